//! A trained model held by JS: inference on the thread pool, save and load.

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

    #[napi(ts_return_type = "Promise<NativeModel>")]
    pub fn load(path: String) -> AsyncTask<Job<NativeModel>> {
        AsyncTask::new(Job::new(move || {
            let device = device_for_load()?;
            Ok(NativeModel::new(Model::load(&PathBuf::from(path), &device).map_err(to_napi)?))
        }))
    }
}
