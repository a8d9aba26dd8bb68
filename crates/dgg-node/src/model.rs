//! A trained model held by JS: inference on the libuv thread pool (short calls), save and load to
//! a file or a buffer (the same bytes, through the same checks), and what the model holds.

use crate::error::to_napi;
use crate::job::Job;
use dgg_core::Model;
use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::path::PathBuf;
use std::sync::Arc;

#[napi]
pub struct NativeModel {
    inner: Arc<Model>,
}

/// The mixture's parameters, K x M each, row-major.
#[napi(object)]
pub struct Mixture {
    pub means: Float32Array,
    pub variances: Float32Array,
}

impl NativeModel {
    pub fn new(model: Model) -> Self {
        Self { inner: Arc::new(model) }
    }
}

fn device_for_load() -> napi::Result<dgg_core::Device> {
    dgg_core::device::select(dgg_core::config::DeviceChoice::Auto).map(|d| d.0).map_err(to_napi)
}

/// What a model holds besides its weights (the `config` is `configJson`).
#[napi(object)]
pub struct ModelInfo {
    /// The file format's name and version.
    pub format: String,
    pub format_version: u32,
    pub input_dim: u32,
    pub hidden: Vec<u32>,
    pub latent_dim: u32,
    pub n_clusters: u32,
    /// The classifier's hidden layers (empty for the linear classifier).
    pub classifier_hidden: Vec<u32>,
    /// The likelihood the fit resolved (`bernoulli` or `gaussian`; `auto` is never stored).
    pub likelihood: String,
    /// The input scaling the fit resolved and applies to new rows: `none`, `max` or `standardize`.
    pub scale: String,
    /// Trainable parameters in the networks and the mixture.
    pub parameters: f64,
    /// The device the model runs on here.
    pub device: String,
}

#[napi]
impl NativeModel {
    /// gamma = q(c | x) for `rows` new rows, N x K row-major.
    #[napi(ts_return_type = "Promise<Float32Array>")]
    pub fn predict_proba(&self, data: Float32Array, rows: u32, cols: u32) -> AsyncTask<Job<Float32Array>> {
        let model = self.inner.clone();
        AsyncTask::new(Job::new(move || Ok(Float32Array::new(model.predict_proba(&data, rows as usize, cols as usize).map_err(to_napi)?))))
    }

    /// Synchronous `predictProba` for latency-critical single-row calls.
    #[napi(catch_unwind)]
    pub fn predict_proba_sync(&self, data: Float32Array, rows: u32, cols: u32) -> Result<Float32Array> {
        Ok(Float32Array::new(self.inner.predict_proba(&data, rows as usize, cols as usize).map_err(to_napi)?))
    }

    /// The mean embedding mu~, N x M row-major.
    #[napi(ts_return_type = "Promise<Float32Array>")]
    pub fn transform(&self, data: Float32Array, rows: u32, cols: u32) -> AsyncTask<Job<Float32Array>> {
        let model = self.inner.clone();
        AsyncTask::new(Job::new(move || Ok(Float32Array::new(model.transform(&data, rows as usize, cols as usize).map_err(to_napi)?))))
    }

    #[napi(catch_unwind)]
    pub fn mixture(&self) -> Result<Mixture> {
        let (means, variances) = self.inner.mixture().map_err(to_napi)?;
        Ok(Mixture { means: Float32Array::new(means), variances: Float32Array::new(variances) })
    }

    /// The configuration the model was trained with, as JSON.
    #[napi(getter)]
    pub fn config_json(&self) -> String {
        serde_json::to_string(&self.inner.config).unwrap_or_default()
    }

    #[napi(getter)]
    pub fn input_dim(&self) -> u32 {
        self.inner.shape.input_dim as u32
    }

    #[napi(getter)]
    pub fn n_clusters(&self) -> u32 {
        self.inner.shape.n_clusters as u32
    }

    #[napi(getter)]
    pub fn latent_dim(&self) -> u32 {
        self.inner.shape.latent_dim as u32
    }

    /// Writes the model atomically to `path`.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn save(&self, path: String) -> AsyncTask<Job<()>> {
        let model = self.inner.clone();
        AsyncTask::new(Job::new(move || model.save(&PathBuf::from(path)).map_err(to_napi)))
    }

    /// The model file's bytes (what `save` writes).
    #[napi(ts_return_type = "Promise<Buffer>")]
    pub fn to_buffer(&self) -> AsyncTask<Job<Buffer>> {
        let model = self.inner.clone();
        AsyncTask::new(Job::new(move || Ok(Buffer::from(model.to_bytes().map_err(to_napi)?))))
    }

    /// A model from the bytes of a model file, checked as `load` checks a file (`origin` names
    /// the buffer in errors).
    #[napi(ts_return_type = "Promise<NativeModel>")]
    pub fn from_buffer(bytes: Buffer, origin: String) -> AsyncTask<Job<NativeModel>> {
        AsyncTask::new(Job::new(move || {
            let device = device_for_load()?;
            Ok(NativeModel::new(Model::from_bytes(&bytes, &device, &origin).map_err(to_napi)?))
        }))
    }

    #[napi(catch_unwind)]
    pub fn info(&self) -> ModelInfo {
        let m = &self.inner;
        let u = |v: &[usize]| v.iter().map(|&x| x as u32).collect::<Vec<u32>>();
        let parameters = dgg_core::model::expected_parameters(&m.shape).iter().map(|(_, dims)| dims.iter().product::<usize>() as f64).sum();
        let scale = match m.scaler {
            dgg_core::data::Scaler::None => "none",
            dgg_core::data::Scaler::Max { .. } => "max",
            dgg_core::data::Scaler::Standardize { .. } => "standardize",
        };
        let likelihood = match m.likelihood {
            dgg_core::config::Likelihood::Bernoulli => "bernoulli",
            dgg_core::config::Likelihood::Gaussian => "gaussian",
        };
        ModelInfo {
            format: dgg_core::model::FORMAT_NAME.into(),
            format_version: dgg_core::model::FORMAT_VERSION,
            input_dim: m.shape.input_dim as u32,
            hidden: u(&m.shape.hidden),
            latent_dim: m.shape.latent_dim as u32,
            n_clusters: m.shape.n_clusters as u32,
            classifier_hidden: u(&m.shape.classifier_hidden),
            likelihood: likelihood.into(),
            scale: scale.into(),
            parameters,
            device: dgg_core::device::name(&m.device),
        }
    }

    #[napi(ts_return_type = "Promise<NativeModel>")]
    pub fn load(path: String) -> AsyncTask<Job<NativeModel>> {
        AsyncTask::new(Job::new(move || {
            let device = device_for_load()?;
            Ok(NativeModel::new(Model::load(&PathBuf::from(path), &device).map_err(to_napi)?))
        }))
    }
}
