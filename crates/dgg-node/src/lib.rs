#![deny(clippy::all)]
//! Node.js binding of dgg-native: converts between JS values and the engine's types, nothing more.

mod error;
mod fit;
mod graph;
mod job;
mod metrics;
mod model;
mod options;

pub use fit::*;
pub use graph::*;
pub use metrics::*;
pub use model::*;
pub use options::*;
