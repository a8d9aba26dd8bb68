//! The crate-wide error type. Every message names the field or phase and the offending value, so a
//! caller (and the Node binding, which forwards the text) can tell what to fix.

use std::path::PathBuf;

/// Errors from graph construction, weighting, file IO and Siamese training.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// A parameter is out of range; checked before any work starts (hnsw_rs would `exit(1)`).
    #[error("invalid parameter {field} = {value}: {reason}")]
    InvalidParameter { field: &'static str, value: String, reason: String },

    /// Input arrays disagree with the stated sizes.
    #[error("shape mismatch for {field}: expected {expected}, got {actual}")]
    Shape { field: &'static str, expected: String, actual: String },

    /// A NaN or infinity where finite numbers are required.
    #[error("non-finite value in {field} at index {index}: {value}")]
    NonFinite { field: &'static str, index: usize, value: f64 },

    /// A filesystem operation failed.
    #[error("io error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A graph file (or byte buffer) is not a valid DGG graph.
    #[error("bad graph file {path}: {reason}")]
    Format { path: String, reason: String },

    /// The caller's cancel flag was set.
    #[error("cancelled")]
    Cancelled,

    /// Training diverged.
    #[error("non-finite loss in phase {phase} at epoch {epoch}")]
    NonFiniteLoss { phase: String, epoch: usize },

    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// Result with [`GraphError`].
pub type Result<T> = std::result::Result<T, GraphError>;

impl GraphError {
    /// Shorthand for [`GraphError::InvalidParameter`].
    pub fn invalid(field: &'static str, value: impl ToString, reason: impl Into<String>) -> Self {
        GraphError::InvalidParameter { field, value: value.to_string(), reason: reason.into() }
    }

    /// Shorthand for [`GraphError::Shape`].
    pub fn shape(field: &'static str, expected: impl ToString, actual: impl ToString) -> Self {
        GraphError::Shape { field, expected: expected.to_string(), actual: actual.to_string() }
    }
}

/// Checks `data.len() == n * d` and that every value is finite.
pub(crate) fn check_matrix(field: &'static str, data: &[f32], n: usize, d: usize) -> Result<()> {
    let expected = n.checked_mul(d).ok_or_else(|| GraphError::invalid("n", n, format!("n * d overflows (d = {d})")))?;
    if data.len() != expected {
        return Err(GraphError::shape(field, format!("{n} x {d} = {expected} values"), format!("{} values", data.len())));
    }
    if d == 0 {
        return Err(GraphError::invalid("d", d, "must be at least 1"));
    }
    if let Some(i) = data.iter().position(|v| !v.is_finite()) {
        return Err(GraphError::NonFinite { field, index: i, value: data[i] as f64 });
    }
    Ok(())
}
