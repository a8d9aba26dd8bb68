//! A trained model: inference on new data and the file format.
//!
//! The file is a safetensors file: every parameter by its `VarMap` name, and in its metadata the
//! format name and version, the configuration, the network shape, the scaler, the likelihood and a
//! SHA-256 checksum of all of it ([`CHECKSUM_KEY`]). Files are written with dgg-graph's
//! `write_atomic` (a new temporary file with a random name, fsync, rename; a target that is not a
//! regular file is refused).
//!
//! Loading trusts nothing in the file, and checks it before allocating anything from it: the
//! checksum (files saved before it existed have none and still load), then the metadata (the
//! configuration's ranges as a fit checks them, the shape against the configuration, at most
//! [`MAX_PARAMETERS`] parameters, a finite scaler of the right length), then that the parameters fit
//! in the memory available ([`crate::memory::check_load`]; `DGG_MEMORY_CHECK=off` skips it), then every tensor's name,
//! dtype and shape against the ones the shape implies (so a file can only make the loader allocate
//! what it holds), and every weight finite. Any failure is a `MODEL_FORMAT` error naming the file
//! and the field.

use crate::config::{ClassifierKind, Config, Likelihood};
use crate::data::{validate_matrix, Scaler};
use crate::error::{DggError, Result};
use crate::nn::{Networks, Shape};
use crate::pretrain::map_batched;
use candle_core::{DType, Device, Tensor, D};
use rand::SeedableRng;
use safetensors::tensor::{Dtype, TensorView, View};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

pub const FORMAT_NAME: &str = "dgg-native-model";
pub const FORMAT_VERSION: u32 = 1;
/// The metadata key of the checksum, `sha256:<hex>` over every other metadata entry and every
/// tensor's name, dtype, shape and bytes ([`checksum`]). Model and checkpoint files written before
/// it existed have none: they load unchecked.
pub const CHECKSUM_KEY: &str = "checksum";
/// The most parameters a model file may declare: 2^31 floats (8 GiB), far above any network a fit
/// on this library's data sizes produces (MNIST's default has 3.3 million). Declared shapes are
/// also checked against the tensors the file holds, so a loader never allocates more than a file's
/// own size; this cap keeps even a huge genuine file from exhausting memory.
pub const MAX_PARAMETERS: usize = 1 << 31;
const CHUNK: usize = 8192;

pub struct Model {
    pub config: Config,
    pub shape: Shape,
    pub scaler: Scaler,
    pub likelihood: Likelihood,
    pub nets: Networks,
    pub device: Device,
}

impl Model {
    fn input(&self, data: &[f32], n: usize, d: usize) -> Result<Tensor> {
        validate_matrix(data, n, d)?;
        if d != self.shape.input_dim {
            return Err(DggError::DimensionMismatch { expected: self.shape.input_dim, got: d });
        }
        let scaled = self.scaler.apply(data, d);
        Ok(Tensor::from_slice(&scaled, (n, d), &self.device)?)
    }

    /// The mean embedding mu~, N x M.
    pub fn transform(&self, data: &[f32], n: usize, d: usize) -> Result<Vec<f32>> {
        let x = self.input(data, n, d)?;
        let mu = map_batched(&x, CHUNK, |b| self.nets.encoder.mean(b))?;
        finite_rows(mu.flatten_all()?.to_vec1::<f32>()?, self.shape.latent_dim)
    }

    /// gamma = q(c | x), N x K.
    pub fn predict_proba(&self, data: &[f32], n: usize, d: usize) -> Result<Vec<f32>> {
        let x = self.input(data, n, d)?;
        let gamma = map_batched(&x, CHUNK, |b| {
            let logits = self.nets.classifier.forward(&self.nets.encoder.mean(b)?)?;
            Ok(candle_nn::ops::softmax(&logits, D::Minus1)?)
        })?;
        finite_rows(gamma.flatten_all()?.to_vec1::<f32>()?, self.shape.n_clusters)
    }

    /// argmax_k gamma.
    pub fn predict(&self, data: &[f32], n: usize, d: usize) -> Result<Vec<u32>> {
        Ok(argmax_rows(&self.predict_proba(data, n, d)?, self.shape.n_clusters))
    }

    /// The mixture: means and variances (K x M each).
    pub fn mixture(&self) -> Result<(Vec<f32>, Vec<f32>)> {
        Ok((self.nets.means.flatten_all()?.to_vec1()?, self.nets.logvars.exp()?.flatten_all()?.to_vec1()?))
    }

    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut meta = HashMap::new();
        meta.insert("format".to_string(), FORMAT_NAME.to_string());
        meta.insert("format_version".to_string(), FORMAT_VERSION.to_string());
        meta.insert("config".to_string(), json(&self.config));
        meta.insert("shape".to_string(), json(&self.shape));
        meta.insert("scaler".to_string(), json(&self.scaler));
        meta.insert("likelihood".to_string(), json(&self.likelihood));
        parameters_to_bytes(&self.nets, meta)
    }

    /// Parses and checks a model file (see the module comment); `origin` names it in errors.
    pub fn from_bytes(bytes: &[u8], device: &Device, origin: &str) -> Result<Model> {
        let bad = |reason: String| DggError::ModelFormat { path: origin.to_string(), reason };
        let file = ParsedFile::new(bytes).map_err(|e| bad(format!("not a dgg-native model file (unreadable safetensors header: {e})")))?;
        let meta = &file.meta;
        if meta.get("format").map(String::as_str) != Some(FORMAT_NAME) {
            return Err(bad("not a dgg-native model file (a safetensors file without dgg-native metadata)".into()));
        }
        let version = meta.get("format_version").cloned().unwrap_or_default();
        if version != FORMAT_VERSION.to_string() {
            return Err(bad(format!("model format version {version} is not supported by this version (expects {FORMAT_VERSION})")));
        }
        file.verify_checksum().map_err(bad)?;
        let field = |name: &str| meta.get(name).cloned().ok_or_else(|| bad(format!("metadata field '{name}' is missing")));
        let parse_err = |name: &str, e: serde_json::Error| bad(format!("metadata field '{name}' is invalid: {e}"));
        let config: Config = serde_json::from_str(&field("config")?).map_err(|e| parse_err("config", e))?;
        let shape: Shape = serde_json::from_str(&field("shape")?).map_err(|e| parse_err("shape", e))?;
        let scaler: Scaler = serde_json::from_str(&field("scaler")?).map_err(|e| parse_err("scaler", e))?;
        let likelihood: Likelihood = serde_json::from_str(&field("likelihood")?).map_err(|e| parse_err("likelihood", e))?;
        check_metadata(&config, &shape, &scaler).map_err(bad)?;
        // A genuine file can declare a network larger than this machine's memory: refuse it now.
        crate::memory::check_load_here(&shape).map_err(bad)?;
        // Only now, with every tensor known to be in the file as the shape says, allocate.
        file.check_parameters(&expected_parameters(&shape)).map_err(bad)?;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let nets = Networks::new(&shape, &mut rng, DType::F32, device)?;
        file.set_parameters(&nets)?;
        Ok(Model { config, shape, scaler, likelihood, nets, device: device.clone() })
    }

    /// Writes the model to `path` with `write_atomic`.
    pub fn save(&self, path: &Path) -> Result<()> {
        write_atomic(path, &self.to_bytes()?)
    }

    pub fn load(path: &Path, device: &Device) -> Result<Model> {
        let bytes = dgg_graph::graph_file::read_regular(path).map_err(|e| DggError::Io { path: path.display().to_string(), reason: e.to_string() })?;
        Model::from_bytes(&bytes, device, &path.display().to_string())
    }
}

/// `values` (rows of `width`) if all are finite, else an error naming the first row that is not:
/// finite data through finite weights can still overflow, and a NaN must not become label 0.
fn finite_rows(values: Vec<f32>, width: usize) -> Result<Vec<f32>> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(values),
        Some(i) => Err(DggError::InvalidData(format!(
            "row {}: the model's output is not finite (the row's values may lie far outside the range of the training data)",
            i / width.max(1)
        ))),
    }
}

/// Checks the metadata of a model file against itself before anything is allocated from it.
/// Errors name the field.
fn check_metadata(config: &Config, shape: &Shape, scaler: &Scaler) -> std::result::Result<(), String> {
    // The ranges a fit accepts (Config::validate holds the limits: nClusters, latentDim, hidden).
    config.validate().map_err(|e| format!("metadata field 'config' is invalid: {e}"))?;
    let agree = |field: &str, got: String, want: String| {
        if got == want {
            Ok(())
        } else {
            Err(format!("metadata field 'shape.{field}' is {got}, but the config says {want}"))
        }
    };
    agree("hidden", format!("{:?}", shape.hidden), format!("{:?}", config.hidden))?;
    agree("latent_dim", shape.latent_dim.to_string(), config.latent_dim.to_string())?;
    agree("n_clusters", shape.n_clusters.to_string(), config.n_clusters.to_string())?;
    match config.classifier {
        ClassifierKind::Linear if !shape.classifier_hidden.is_empty() => {
            return Err(format!("metadata field 'shape.classifier_hidden' is {:?}, but a linear classifier has no hidden layers", shape.classifier_hidden));
        }
        ClassifierKind::Linear => {}
        // The classifier's hidden layers by the rules of the encoder's (1 to 8 layers, each width
        // in Config::validate's range).
        ClassifierKind::Mlp => Config { hidden: shape.classifier_hidden.clone(), ..config.clone() }.validate().map_err(|e| match e {
            DggError::InvalidOption { field, reason } => {
                format!("metadata field 'shape.classifier_{field}' is invalid: {reason}")
            }
            other => other.to_string(),
        })?,
    }
    if shape.input_dim == 0 {
        return Err("metadata field 'shape.input_dim' must be at least 1, got 0".into());
    }
    let count = expected_parameters(shape).iter().try_fold(0usize, |total, (_, dims)| {
        dims.iter().try_fold(1usize, |p, &x| p.checked_mul(x)).and_then(|n| total.checked_add(n)).filter(|&t| t <= MAX_PARAMETERS)
    });
    if count.is_none() {
        return Err(format!(
            "metadata field 'shape' declares more than {MAX_PARAMETERS} parameters (input_dim {}, hidden {:?}, latent_dim {}, n_clusters {})",
            shape.input_dim, shape.hidden, shape.latent_dim, shape.n_clusters
        ));
    }
    let d = shape.input_dim;
    match scaler {
        Scaler::None => {}
        Scaler::Max { max } => {
            if !(max.is_finite() && *max > 0.0) {
                return Err(format!("metadata field 'scaler.max' must be positive and finite, got {max}"));
            }
        }
        Scaler::Standardize { mean, std } => {
            for (name, v) in [("mean", mean), ("std", std)] {
                if v.len() != d {
                    return Err(format!("metadata field 'scaler.{name}' has {} values, the model's input_dim is {d}", v.len()));
                }
            }
            if let Some(j) = mean.iter().position(|v| !v.is_finite()) {
                return Err(format!("metadata field 'scaler.mean[{j}]' must be finite, got {}", mean[j]));
            }
            if let Some(j) = std.iter().position(|v| !(v.is_finite() && *v > 0.0)) {
                return Err(format!("metadata field 'scaler.std[{j}]' must be positive and finite, got {}", std[j]));
            }
        }
    }
    Ok(())
}

/// The parameters [`Networks::new`] creates for `shape`, by name, with their dimensions, without
/// creating them (tested against it): the encoder's trunk `encoder.l{i}` and heads `encoder.mu`
/// and `encoder.logvar`, the decoder `decoder.l{i}` (the trunk mirrored), the classifier
/// `classifier.l{i}` and the mixture's `gmm.means` and `gmm.logvars`.
pub fn expected_parameters(shape: &Shape) -> Vec<(String, Vec<usize>)> {
    let (d, m, k) = (shape.input_dim, shape.latent_dim, shape.n_clusters);
    let mut out = Vec::new();
    let mut linear = |name: String, fan_in: usize, fan_out: usize| {
        out.push((format!("{name}.weight"), vec![fan_out, fan_in]));
        out.push((format!("{name}.bias"), vec![fan_out]));
    };
    let trunk: Vec<usize> = std::iter::once(d).chain(shape.hidden.iter().copied()).collect();
    let decoder: Vec<usize> = std::iter::once(m).chain(shape.hidden.iter().rev().copied()).chain([d]).collect();
    let classifier: Vec<usize> = std::iter::once(m).chain(shape.classifier_hidden.iter().copied()).chain([k]).collect();
    for (prefix, sizes) in [("encoder", &trunk), ("decoder", &decoder), ("classifier", &classifier)] {
        for (i, w) in sizes.windows(2).enumerate() {
            linear(format!("{prefix}.l{i}"), w[0], w[1]);
        }
    }
    let last = *trunk.last().expect("non-empty");
    linear("encoder.mu".into(), last, m);
    linear("encoder.logvar".into(), last, m);
    out.push(("gmm.means".into(), vec![k, m]));
    out.push(("gmm.logvars".into(), vec![k, m]));
    out
}

/// The checksum stored under [`CHECKSUM_KEY`]: SHA-256 over every metadata entry but the checksum
/// (sorted by key) and every tensor's name, dtype, shape and bytes (sorted by name), each item
/// preceded by its length. A changed byte, a tensor's bytes under another name (swapped offsets)
/// or a changed dtype all change it.
pub fn checksum<N: AsRef<str>, V: View>(meta: &HashMap<String, String>, tensors: &[(N, V)]) -> String {
    fn put(h: &mut Sha256, bytes: &[u8]) {
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    }
    let mut h = Sha256::new();
    let mut keys: Vec<&String> = meta.keys().filter(|k| *k != CHECKSUM_KEY).collect();
    keys.sort();
    for key in keys {
        put(&mut h, key.as_bytes());
        put(&mut h, meta[key].as_bytes());
    }
    let mut order: Vec<&(N, V)> = tensors.iter().collect();
    order.sort_by(|a, b| a.0.as_ref().cmp(b.0.as_ref()));
    for (name, t) in order {
        put(&mut h, name.as_ref().as_bytes());
        // The dtype's name as the safetensors header spells it ("F32").
        put(&mut h, serde_json::to_string(&t.dtype()).expect("plain data serialises").as_bytes());
        let dims: Vec<u8> = t.shape().iter().flat_map(|&x| (x as u64).to_le_bytes()).collect();
        put(&mut h, &dims);
        put(&mut h, &t.data());
    }
    format!("sha256:{:x}", h.finalize())
}

/// Every parameter by its `VarMap` name, in safetensors with `meta` and its [`checksum`] as its
/// metadata.
pub(crate) fn parameters_to_bytes(nets: &Networks, mut meta: HashMap<String, String>) -> Result<Vec<u8>> {
    let data = nets.varmap.data().lock().expect("varmap lock");
    let mut named: Vec<(String, Tensor)> = data.iter().map(|(k, v)| (k.clone(), v.as_tensor().clone())).collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    meta.insert(CHECKSUM_KEY.to_string(), checksum(&meta, &named));
    let bytes = safetensors::serialize(named.iter().map(|(k, t)| (k.as_str(), t)), Some(meta))
        .map_err(|e| DggError::ModelFormat { path: "<memory>".into(), reason: e.to_string() })?;
    Ok(with_sorted_header(bytes))
}

/// The same safetensors bytes with the header's keys in sorted order. safetensors writes the
/// metadata from a `HashMap`, whose order changes from one call to the next; sorted, the same
/// model always gives the same bytes (`toBuffer` equals the saved file). The data offsets are
/// relative to the end of the header, so the tensors' bytes stay as they are.
fn with_sorted_header(bytes: Vec<u8>) -> Vec<u8> {
    fn write(v: &serde_json::Value, out: &mut String) {
        match v {
            serde_json::Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                out.push('{');
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::Value::String(k.clone()).to_string());
                    out.push(':');
                    write(&m[k], out);
                }
                out.push('}');
            }
            serde_json::Value::Array(a) => {
                out.push('[');
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(x, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let Some(len) = bytes.get(..8).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")) as usize) else { return bytes };
    let Some(Ok(header)) = bytes.get(8..8 + len).map(serde_json::from_slice::<serde_json::Value>) else { return bytes };
    let mut text = String::with_capacity(len);
    write(&header, &mut text);
    // safetensors pads the header with spaces to a multiple of 8 bytes; so do we.
    while !text.len().is_multiple_of(8) {
        text.push(' ');
    }
    let mut out = Vec::with_capacity(8 + text.len() + bytes.len() - 8 - len);
    out.extend_from_slice(&(text.len() as u64).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(&bytes[8 + len..]);
    out
}

/// A safetensors buffer, parsed but not copied: the metadata and a view of every tensor.
struct ParsedFile<'a> {
    meta: HashMap<String, String>,
    tensors: Vec<(String, TensorView<'a>)>,
}

impl<'a> ParsedFile<'a> {
    /// The header is checked by safetensors: its byte ranges tile the buffer exactly and each
    /// matches its tensor's dtype and shape.
    fn new(bytes: &'a [u8]) -> std::result::Result<Self, safetensors::SafeTensorError> {
        let file = safetensors::SafeTensors::deserialize(bytes)?;
        let (_, header) = safetensors::SafeTensors::read_metadata(bytes)?;
        Ok(ParsedFile { meta: header.metadata().clone().unwrap_or_default(), tensors: file.tensors() })
    }

    /// Compares the stored checksum, if any, with the contents.
    fn verify_checksum(&self) -> std::result::Result<(), String> {
        match self.meta.get(CHECKSUM_KEY) {
            None => Ok(()),
            Some(stored) if *stored == checksum(&self.meta, &self.tensors) => Ok(()),
            Some(_) => Err("checksum mismatch: the file is corrupted or was modified after it was saved".into()),
        }
    }

    /// Every tensor is one of `expected`, with its shape, in float32 and finite; none is missing.
    fn check_parameters(&self, expected: &[(String, Vec<usize>)]) -> std::result::Result<(), String> {
        let wanted: HashMap<&str, &[usize]> = expected.iter().map(|(n, d)| (n.as_str(), d.as_slice())).collect();
        for (name, t) in &self.tensors {
            let dims = wanted.get(name.as_str()).ok_or_else(|| format!("unexpected parameter '{name}' (not part of a network of this shape)"))?;
            if t.dtype() != Dtype::F32 {
                return Err(format!("parameter '{name}' has dtype {:?}, expected F32", t.dtype()));
            }
            if t.shape() != *dims {
                return Err(format!("parameter '{name}' has shape {:?}, expected {:?}", t.shape(), dims));
            }
            let values = t.data().chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")));
            if let Some((i, v)) = values.enumerate().find(|(_, v)| !v.is_finite()) {
                return Err(format!("parameter '{name}' holds a non-finite value ({v}) at index {i}"));
            }
        }
        if let Some((name, _)) = expected.iter().find(|(n, _)| !self.tensors.iter().any(|(t, _)| t == n)) {
            return Err(format!("parameter '{name}' is missing"));
        }
        Ok(())
    }

    /// Copies every (checked) tensor into the parameter of its name.
    fn set_parameters(&self, nets: &Networks) -> Result<()> {
        let device = nets.means.device();
        for (name, t) in &self.tensors {
            nets.set(name, &Tensor::from_raw_buffer(t.data(), DType::F32, t.shape(), device)?)?;
        }
        Ok(())
    }
}

/// Sets every parameter of `nets` from a safetensors buffer (a checkpoint), checking the checksum
/// if there is one, and each parameter's name, dtype, shape and finiteness.
pub(crate) fn load_parameters(nets: &Networks, bytes: &[u8], origin: &str) -> Result<()> {
    let bad = |reason: String| DggError::ModelFormat { path: origin.to_string(), reason };
    let file = ParsedFile::new(bytes).map_err(|e| bad(format!("tensor data unreadable: {e}")))?;
    file.verify_checksum().map_err(bad)?;
    let expected: Vec<(String, Vec<usize>)> =
        nets.varmap.data().lock().expect("varmap lock").iter().map(|(k, v)| (k.clone(), v.as_tensor().dims().to_vec())).collect();
    file.check_parameters(&expected).map_err(bad)?;
    file.set_parameters(nets)
}

/// The metadata of a safetensors buffer.
pub(crate) fn read_metadata(bytes: &[u8], origin: &str) -> Result<HashMap<String, String>> {
    let (_, header) = safetensors::SafeTensors::read_metadata(bytes)
        .map_err(|e| DggError::ModelFormat { path: origin.to_string(), reason: format!("unreadable safetensors header: {e}") })?;
    Ok(header.metadata().clone().unwrap_or_default())
}

pub(crate) fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("plain data serialises")
}

pub fn argmax_rows(values: &[f32], k: usize) -> Vec<u32> {
    values.chunks_exact(k).map(|r| r.iter().enumerate().fold((0, f32::NEG_INFINITY), |b, (i, &v)| if v > b.1 { (i, v) } else { b }).0 as u32).collect()
}

/// Writes `bytes` to `path` with dgg-graph's `write_atomic`: readers never see a partial file, a
/// failure leaves any previous file untouched, saves to one path from this process never
/// interleave, and a target that is not a regular file (a FIFO, a device) is refused.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    dgg_graph::graph_file::write_atomic(path, |f| f.write_all(bytes)).map_err(|e| DggError::Io { path: path.display().to_string(), reason: e.to_string() })
}
