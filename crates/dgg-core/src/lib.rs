//! dgg-core: the DGG deep clustering engine (Yang et al., ICCV 2019) on candle.
//! A Gaussian-mixture VAE whose posteriors are tied to their neighbours on a similarity graph.

pub mod checkpoint;
pub mod config;
pub mod data;
pub mod device;
pub mod error;
pub mod grad;
pub mod kmeans;
pub mod loss;
pub mod memory;
pub mod metrics;
pub mod model;
pub mod nn;
pub mod pipeline;
pub mod pretrain;
pub mod prior;
pub mod spectral;
pub mod step;
pub mod train;

pub use candle_core::Device;
pub use config::Config;
pub use dgg_graph::optim;
pub use error::{DggError, Result};
pub use model::Model;
pub use pipeline::{fit, fit_resumable, FitOutput};
