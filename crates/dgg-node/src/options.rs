//! The options object from TypeScript (already validated by zod there) mapped onto `Config`,
//! which validates again: the binding trusts nothing it receives.

use crate::error::invalid_option;
use dgg_core::config::*;
use napi_derive::napi;

/// Flat fit options; see ts/options.ts for documentation and defaults.
#[napi(object)]
pub struct NativeOptions {
    pub n_clusters: u32,
    pub latent_dim: Option<u32>,
    pub hidden: Option<Vec<u32>>,
    pub likelihood: Option<String>,
    pub scale: Option<String>,
    pub graph: Option<String>,
    pub neighbours: Option<u32>,
    pub weighting: Option<String>,
    pub siamese_positives: Option<String>,
    pub classifier: Option<String>,
    pub init: Option<String>,
    pub epochs_layerwise: Option<u32>,
    pub epochs_pretrain: Option<u32>,
    pub epochs_vae: Option<u32>,
    pub epochs_siamese: Option<u32>,
    pub epochs_classifier: Option<u32>,
    pub epochs_dgg: Option<u32>,
    pub batch_size: Option<u32>,
    pub dgg_batch_size: Option<u32>,
    pub lr_pretrain: Option<f64>,
    pub lr_vae: Option<f64>,
    pub lr_siamese: Option<f64>,
    pub lr_classifier: Option<f64>,
    pub lr_dgg: Option<f64>,
    pub keep_best: Option<bool>,
    pub weight_decay: Option<f64>,
    pub kmeans_restarts: Option<u32>,
    pub seed: Option<u32>,
    pub device: Option<String>,
    /// Compute threads (all available cores when unset). Not part of `Config`: it changes how
    /// fast a fit runs, not what a model file stores (parallel sums may differ in the last bits).
    pub threads: Option<u32>,
}

fn pick<T: Copy>(field: &str, value: &Option<String>, default: T, choices: &[(&str, T)]) -> napi::Result<T> {
    match value {
        None => Ok(default),
        Some(v) => choices.iter().find(|(name, _)| name == v).map(|(_, t)| *t).ok_or_else(|| {
            let names: Vec<&str> = choices.iter().map(|c| c.0).collect();
            invalid_option(field, format!("must be one of {}, got '{v}'", names.join(", ")))
        }),
    }
}

impl NativeOptions {
    pub fn to_config(&self) -> napi::Result<Config> {
        let d = Config::default();
        let u = |v: Option<u32>, default: usize| v.map(|x| x as usize).unwrap_or(default);
        let cfg = Config {
            n_clusters: self.n_clusters as usize,
            latent_dim: u(self.latent_dim, d.latent_dim),
            hidden: self.hidden.as_ref().map(|h| h.iter().map(|&x| x as usize).collect()).unwrap_or(d.hidden),
            likelihood: match self.likelihood.as_deref() {
                None | Some("auto") => None,
                _ => Some(pick(
                    "likelihood",
                    &self.likelihood,
                    Likelihood::Bernoulli,
                    &[("bernoulli", Likelihood::Bernoulli), ("gaussian", Likelihood::Gaussian)],
                )?),
            },
            scale: pick(
                "scale",
                &self.scale,
                d.scale,
                &[("auto", ScaleMode::Auto), ("none", ScaleMode::None), ("max", ScaleMode::Max), ("standardize", ScaleMode::Standardize)],
            )?,
            graph: pick(
                "graph",
                &self.graph,
                d.graph,
                &[
                    ("siamese", GraphSource::Siamese),
                    ("euclidean", GraphSource::Euclidean),
                    ("latent", GraphSource::Latent),
                    ("auto", GraphSource::Auto),
                    ("none", GraphSource::None),
                ],
            )?,
            neighbours: u(self.neighbours, d.neighbours),
            weighting: pick("weighting", &self.weighting, d.weighting, &[("uniform", Weighting::Uniform), ("gaussian", Weighting::Gaussian)])?,
            siamese_positives: pick(
                "siamesePositives",
                &self.siamese_positives,
                d.siamese_positives,
                &[("euclidean", SiamesePositives::Euclidean), ("agreed", SiamesePositives::Agreed)],
            )?,
            classifier: pick("classifier", &self.classifier, d.classifier, &[("linear", ClassifierKind::Linear), ("mlp", ClassifierKind::Mlp)])?,
            init: pick("init", &self.init, d.init, &[("kmeans", InitMethod::Kmeans), ("spectral", InitMethod::Spectral)])?,
            epochs: Epochs {
                layerwise: u(self.epochs_layerwise, d.epochs.layerwise),
                pretrain: u(self.epochs_pretrain, d.epochs.pretrain),
                vae: u(self.epochs_vae, d.epochs.vae),
                siamese: u(self.epochs_siamese, d.epochs.siamese),
                classifier: u(self.epochs_classifier, d.epochs.classifier),
                dgg: u(self.epochs_dgg, d.epochs.dgg),
            },
            batch_size: u(self.batch_size, d.batch_size),
            dgg_batch_size: self.dgg_batch_size.map(|b| b as usize),
            lr: LearningRates {
                pretrain: self.lr_pretrain.unwrap_or(d.lr.pretrain),
                vae: self.lr_vae.unwrap_or(d.lr.vae),
                siamese: self.lr_siamese.unwrap_or(d.lr.siamese),
                classifier: self.lr_classifier.unwrap_or(d.lr.classifier),
                dgg: self.lr_dgg.unwrap_or(d.lr.dgg),
            },
            keep_best: self.keep_best.unwrap_or(d.keep_best),
            weight_decay: self.weight_decay.unwrap_or(d.weight_decay),
            kmeans_restarts: u(self.kmeans_restarts, d.kmeans_restarts),
            seed: self.seed.map(u64::from).unwrap_or(d.seed),
            device: pick("device", &self.device, d.device, &[("auto", DeviceChoice::Auto), ("cpu", DeviceChoice::Cpu), ("cuda", DeviceChoice::Cuda)])?,
        };
        cfg.validate().map_err(crate::error::to_napi)?;
        Ok(cfg)
    }
}
