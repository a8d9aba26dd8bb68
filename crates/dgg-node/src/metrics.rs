//! Clustering metrics and build information.

use crate::error::to_napi;
use napi::bindgen_prelude::*;
use napi_derive::napi;

#[napi(object)]
pub struct Scores {
    pub acc: f64,
    pub nmi: f64,
    pub ari: f64,
}

/// ACC (Hungarian matching), NMI and ARI of `pred` against `truth`.
#[napi(catch_unwind)]
pub fn evaluate(pred: Int32Array, truth: Int32Array) -> Result<Scores> {
    let p: Vec<i64> = pred.iter().map(|&v| v as i64).collect();
    let t: Vec<i64> = truth.iter().map(|&v| v as i64).collect();
    let s = dgg_core::metrics::evaluate(&p, &t).map_err(to_napi)?;
    Ok(Scores { acc: s.acc, nmi: s.nmi, ari: s.ari })
}

#[napi(object)]
pub struct BuildInfo {
    pub version: String,
    pub features: Vec<String>,
    pub devices: Vec<String>,
    /// The device `device: 'auto'` picks.
    pub device: String,
    pub reason: String,
}

#[napi(catch_unwind)]
pub fn build_info() -> BuildInfo {
    let mut features = vec!["cpu".to_string()];
    if dgg_core::device::cuda_compiled() {
        features.push("cuda".into());
    }
    let (device, reason) = dgg_core::device::select(dgg_core::config::DeviceChoice::Auto).expect("auto never fails");
    let name = dgg_core::device::name(&device);
    let mut devices = vec!["cpu".to_string()];
    if name != "cpu" {
        devices.push(name.clone());
    }
    BuildInfo { version: env!("CARGO_PKG_VERSION").into(), features, devices, device: name, reason }
}
