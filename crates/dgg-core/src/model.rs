//! A trained model: inference on new data and the file format.
//!
//! The file is a safetensors file: every parameter by its `VarMap` name, and in its metadata the
//! format name and version, the configuration, the network shape, the scaler and the likelihood.
//! Files are written atomically (temporary file in the same folder, fsync, rename).

use crate::config::{Config, Likelihood};
use crate::data::{validate_matrix, Scaler};
use crate::error::{DggError, Result};
use crate::nn::{Networks, Shape};
use crate::pretrain::map_batched;
use candle_core::{DType, Device, Tensor, D};
use rand::SeedableRng;
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

pub const FORMAT_NAME: &str = "dgg-native-model";
pub const FORMAT_VERSION: u32 = 1;
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
        Ok(mu.flatten_all()?.to_vec1::<f32>()?)
    }

    /// gamma = q(c | x), N x K.
    pub fn predict_proba(&self, data: &[f32], n: usize, d: usize) -> Result<Vec<f32>> {
        let x = self.input(data, n, d)?;
        let gamma = map_batched(&x, CHUNK, |b| {
            let logits = self.nets.classifier.forward(&self.nets.encoder.mean(b)?)?;
            Ok(candle_nn::ops::softmax(&logits, D::Minus1)?)
        })?;
        Ok(gamma.flatten_all()?.to_vec1::<f32>()?)
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

    pub fn from_bytes(bytes: &[u8], device: &Device, origin: &str) -> Result<Model> {
        let bad = |reason: String| DggError::ModelFormat { path: origin.to_string(), reason };
        let (_, header) =
            safetensors::SafeTensors::read_metadata(bytes).map_err(|e| bad(format!("not a dgg-native model file (unreadable safetensors header: {e})")))?;
        let meta = header.metadata().clone().unwrap_or_default();
        if meta.get("format").map(String::as_str) != Some(FORMAT_NAME) {
            return Err(bad("not a dgg-native model file (a safetensors file without dgg-native metadata)".into()));
        }
        let version = meta.get("format_version").cloned().unwrap_or_default();
        if version != FORMAT_VERSION.to_string() {
            return Err(bad(format!("model format version {version} is not supported by this version (expects {FORMAT_VERSION})")));
        }
        let field = |name: &str| meta.get(name).cloned().ok_or_else(|| bad(format!("metadata field '{name}' is missing")));
        let parse_err = |name: &str, e: serde_json::Error| bad(format!("metadata field '{name}' is invalid: {e}"));
        let config: Config = serde_json::from_str(&field("config")?).map_err(|e| parse_err("config", e))?;
        let shape: Shape = serde_json::from_str(&field("shape")?).map_err(|e| parse_err("shape", e))?;
        let scaler: Scaler = serde_json::from_str(&field("scaler")?).map_err(|e| parse_err("scaler", e))?;
        let likelihood: Likelihood = serde_json::from_str(&field("likelihood")?).map_err(|e| parse_err("likelihood", e))?;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let nets = Networks::new(&shape, &mut rng, DType::F32, device)?;
        load_parameters(&nets, bytes, origin)?;
        Ok(Model { config, shape, scaler, likelihood, nets, device: device.clone() })
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        write_atomic(path, &self.to_bytes()?)
    }

    pub fn load(path: &Path, device: &Device) -> Result<Model> {
        let bytes = std::fs::read(path).map_err(|e| DggError::Io { path: path.display().to_string(), reason: e.to_string() })?;
        Model::from_bytes(&bytes, device, &path.display().to_string())
    }
}

/// Every parameter by its `VarMap` name, in safetensors with `meta` as its metadata.
pub(crate) fn parameters_to_bytes(nets: &Networks, meta: HashMap<String, String>) -> Result<Vec<u8>> {
    let data = nets.varmap.data().lock().expect("varmap lock");
    let mut named: Vec<(String, Tensor)> = data.iter().map(|(k, v)| (k.clone(), v.as_tensor().clone())).collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    safetensors::serialize(named.iter().map(|(k, t)| (k.as_str(), t)), Some(meta))
        .map_err(|e| DggError::ModelFormat { path: "<memory>".into(), reason: e.to_string() })
}

/// Sets every parameter of `nets` from a safetensors buffer, checking names and shapes.
pub(crate) fn load_parameters(nets: &Networks, bytes: &[u8], origin: &str) -> Result<()> {
    let bad = |reason: String| DggError::ModelFormat { path: origin.to_string(), reason };
    let device = nets.means.device();
    let tensors = candle_core::safetensors::load_buffer(bytes, device).map_err(|e| bad(format!("tensor data unreadable: {e}")))?;
    let expected: Vec<(String, Vec<usize>)> =
        nets.varmap.data().lock().expect("varmap lock").iter().map(|(k, v)| (k.clone(), v.as_tensor().dims().to_vec())).collect();
    for (name, dims) in expected {
        let t = tensors.get(&name).ok_or_else(|| bad(format!("parameter '{name}' is missing")))?;
        if t.dims() != dims.as_slice() {
            return Err(bad(format!("parameter '{name}' has shape {:?}, expected {:?}", t.dims(), dims)));
        }
        nets.set(&name, t)?;
    }
    Ok(())
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

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so readers
/// never see a partial file and a failure leaves any previous file untouched.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |e: std::io::Error| DggError::Io { path: path.display().to_string(), reason: e.to_string() };
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().ok_or_else(|| io(std::io::Error::other("not a file path")))?;
    let tmp = dir.join(format!(".{}.tmp-{}", name.to_string_lossy(), std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io)
}
