//! Training configuration: a plain struct with the paper's defaults, validated before any work starts.
//! The TypeScript layer owns the user-facing defaults; this re-validates whatever reaches Rust.

use crate::error::{DggError, Result};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Likelihood {
    Bernoulli,
    Gaussian,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GraphSource {
    Siamese,
    Euclidean,
    /// The data's nearest neighbours that are also near in the pretrained latent space.
    Latent,
    /// `Latent` from [`LATENT_GRAPH_MIN_ROWS`] rows on (in `fit`), `Euclidean` below.
    Auto,
    None,
}

/// The most clusters a fit may ask for (ts/options.ts has the same limit).
pub const MAX_CLUSTERS: usize = 100_000;
/// The most epochs any phase may run (ts/options.ts has the same limit).
pub const MAX_EPOCHS: usize = 100_000;

/// From this many rows on, `GraphSource::Auto` builds the graph in the pretrained latent space:
/// with enough rows the autoencoder learns a space where the classes separate better than in the
/// data (see benches/research/defaults.md, 'The graph source by data size').
pub const LATENT_GRAPH_MIN_ROWS: usize = 20_000;

impl GraphSource {
    /// What `Auto` stands for on `n` rows, when a pretrained latent space exists (`fit`); other
    /// sources stand for themselves.
    pub fn resolve(self, n: usize, has_latent: bool) -> GraphSource {
        match self {
            GraphSource::Auto if has_latent && n >= LATENT_GRAPH_MIN_ROWS => GraphSource::Latent,
            GraphSource::Auto => GraphSource::Euclidean,
            other => other,
        }
    }
}

/// Which pairs the Siamese network learns to pull together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SiamesePositives {
    /// The nearest neighbours in the scaled data (the paper).
    #[default]
    Euclidean,
    /// The nearest neighbours in the data that are also among the 20 nearest in the pretrained
    /// latent space (filled up with the nearest in the data where too few are).
    Agreed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Weighting {
    Uniform,
    Gaussian,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClassifierKind {
    Linear,
    Mlp,
}

/// How the first partition (mixture and classifier initialisation) is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InitMethod {
    /// k-means on the pretrained latent means (the paper).
    Kmeans,
    /// Spectral clustering of the neighbour graph (k-means when there is no graph).
    Spectral,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScaleMode {
    Auto,
    None,
    Max,
    Standardize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    Auto,
    Cpu,
    Cuda,
}

/// Epochs of each phase of the pipeline. Zero skips a phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Epochs {
    pub layerwise: usize,
    pub pretrain: usize,
    pub vae: usize,
    pub siamese: usize,
    pub classifier: usize,
    pub dgg: usize,
}

/// Learning rates of each phase (Adam).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LearningRates {
    pub pretrain: f64,
    pub vae: f64,
    pub siamese: f64,
    pub classifier: f64,
    pub dgg: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub n_clusters: usize,
    pub latent_dim: usize,
    pub hidden: Vec<usize>,
    /// `None` chooses from the data's range after scaling.
    pub likelihood: Option<Likelihood>,
    pub scale: ScaleMode,
    pub graph: GraphSource,
    pub neighbours: usize,
    pub weighting: Weighting,
    /// Absent from model files saved before it existed, hence the serde default.
    #[serde(default)]
    pub siamese_positives: SiamesePositives,
    pub classifier: ClassifierKind,
    pub init: InitMethod,
    pub epochs: Epochs,
    pub batch_size: usize,
    /// The DGG phase's mini-batch; `None` takes `batch_size`. A GPU runs an epoch faster with
    /// larger batches (fewer, fuller steps). Absent from model files saved before it existed.
    #[serde(default)]
    pub dgg_batch_size: Option<usize>,
    pub lr: LearningRates,
    /// End the DGG phase at its epoch whose partition has the highest modularity on the graph (the
    /// start included), rather than at its last. Absent from model files saved before it existed,
    /// which ended at their last epoch.
    #[serde(default)]
    pub keep_best: bool,
    pub weight_decay: f64,
    pub kmeans_restarts: usize,
    pub seed: u64,
    pub device: DeviceChoice,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            n_clusters: 10,
            latent_dim: 10,
            hidden: vec![500, 500, 2000],
            likelihood: None,
            scale: ScaleMode::Auto,
            graph: GraphSource::Auto,
            neighbours: 10,
            weighting: Weighting::Uniform,
            siamese_positives: SiamesePositives::Euclidean,
            classifier: ClassifierKind::Linear,
            init: InitMethod::Spectral,
            epochs: Epochs { layerwise: 2, pretrain: 15, vae: 0, siamese: 10, classifier: 40, dgg: 25 },
            batch_size: 256,
            dgg_batch_size: None,
            lr: LearningRates { pretrain: 1e-3, vae: 5e-4, siamese: 5e-4, classifier: 2e-2, dgg: 5e-4 },
            keep_best: true,
            weight_decay: 1e-4,
            kmeans_restarts: 10,
            seed: 42,
            device: DeviceChoice::Auto,
        }
    }
}

impl Config {
    /// Checks every field; the message names the field and the value.
    pub fn validate(&self) -> Result<()> {
        let int = |field: &str, v: usize, lo: usize, hi: usize| -> Result<()> {
            if v < lo || v > hi {
                return Err(DggError::option(field, format!("must be an integer in {lo}..={hi}, got {v}")));
            }
            Ok(())
        };
        int("nClusters", self.n_clusters, 2, MAX_CLUSTERS)?;
        let e = &self.epochs;
        for (field, v) in [
            ("epochs.layerwise", e.layerwise),
            ("epochs.pretrain", e.pretrain),
            ("epochs.vae", e.vae),
            ("epochs.siamese", e.siamese),
            ("epochs.classifier", e.classifier),
            ("epochs.dgg", e.dgg),
        ] {
            int(field, v, 0, MAX_EPOCHS)?;
        }
        int("latentDim", self.latent_dim, 1, 1024)?;
        if self.hidden.is_empty() || self.hidden.len() > 8 {
            return Err(DggError::option("hidden", format!("must list 1 to 8 layer sizes, got {}", self.hidden.len())));
        }
        for (i, &h) in self.hidden.iter().enumerate() {
            int(&format!("hidden[{i}]"), h, 1, 65_536)?;
        }
        int("neighbours", self.neighbours, 1, 256)?;
        int("batchSize", self.batch_size, 1, 65_536)?;
        if let Some(b) = self.dgg_batch_size {
            int("dggBatchSize", b, 1, 65_536)?;
        }
        int("kmeansRestarts", self.kmeans_restarts, 1, 1000)?;
        let lrs = [
            ("learningRates.pretrain", self.lr.pretrain),
            ("learningRates.vae", self.lr.vae),
            ("learningRates.siamese", self.lr.siamese),
            ("learningRates.classifier", self.lr.classifier),
            ("learningRates.dgg", self.lr.dgg),
        ];
        for (field, v) in lrs {
            if !(v.is_finite() && v > 0.0) {
                return Err(DggError::option(field, format!("must be a positive number, got {v}")));
            }
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(DggError::option("weightDecay", format!("must be >= 0, got {}", self.weight_decay)));
        }
        Ok(())
    }

    /// Checks the options that depend on the data size.
    pub fn validate_for(&self, n: usize) -> Result<()> {
        if self.n_clusters > n {
            return Err(DggError::option("nClusters", format!("must not exceed the number of rows ({n}), got {}", self.n_clusters)));
        }
        if self.graph != GraphSource::None && self.neighbours >= n {
            return Err(DggError::option("neighbours", format!("must be smaller than the number of rows ({n}), got {}", self.neighbours)));
        }
        Ok(())
    }
}
