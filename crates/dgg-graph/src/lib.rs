//! Neighbour graphs for DGG: exact and HNSW kNN search, graph weights with a binary file format,
//! and the Siamese network that learns the similarity space the graph is built in.

#[cfg(feature = "cuda")]
mod adamw_cuda;
pub mod control;
pub mod error;
pub mod exact;
pub mod graph_file;
pub mod hnsw;
pub mod knn;
pub mod optim;
pub mod select;
pub mod siamese;
pub mod siamese_train;
pub mod weights;

pub use control::{Control, Progress};
pub use error::{GraphError, Result};
pub use exact::{exact_knn, exact_knn_queries};
pub use hnsw::{hnsw_knn, hnsw_knn_with_control, HnswParams};
pub use knn::{auto_prefers_exact, knn, knn_with_control, recall, sq_l2, KnnMethod, Neighbours};
pub use select::{agreed_neighbours, select_neighbours, Selection};
pub use siamese::{contrastive_loss, train_siamese, SiameseConfig, SiameseNet};
pub use weights::{Graph, ReverseGraph, Weighting};
