//! The engine's error type. Every variant maps to a stable code that the Node binding passes on,
//! so callers can branch on the kind of failure rather than on message text.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum DggError {
    #[error("{field}: {reason}")]
    InvalidOption { field: String, reason: String },
    #[error("{0}")]
    InvalidData(String),
    #[error("dimension mismatch: the model expects {expected} features, the data has {got}")]
    DimensionMismatch { expected: usize, got: usize },
    #[error("{path}: {reason}")]
    Io { path: String, reason: String },
    #[error("{path}: {reason}")]
    ModelFormat { path: String, reason: String },
    #[error("training stopped: the {phase} loss became non-finite at epoch {epoch}; try a lower learning rate")]
    NonFinite { phase: String, epoch: usize },
    #[error("cancelled")]
    Cancelled,
    #[error("{0}")]
    DeviceUnavailable(String),
    #[error("tensor error: {0}")]
    Tensor(#[from] candle_core::Error),
    #[error(transparent)]
    Graph(dgg_graph::GraphError),
}

impl From<dgg_graph::GraphError> for DggError {
    fn from(e: dgg_graph::GraphError) -> Self {
        use dgg_graph::GraphError as G;
        match e {
            G::Cancelled => DggError::Cancelled,
            G::NonFiniteLoss { phase, epoch } => DggError::NonFinite { phase, epoch },
            other => DggError::Graph(other),
        }
    }
}

impl DggError {
    /// The stable code the SDK exposes (`err.code` in JavaScript).
    pub fn code(&self) -> &'static str {
        match self {
            DggError::InvalidOption { .. } => "INVALID_OPTION",
            DggError::InvalidData(_) => "INVALID_DATA",
            DggError::DimensionMismatch { .. } => "DIMENSION_MISMATCH",
            DggError::Io { .. } => "IO_ERROR",
            DggError::ModelFormat { .. } => "MODEL_FORMAT",
            DggError::NonFinite { .. } => "NON_FINITE",
            DggError::Cancelled => "CANCELLED",
            DggError::DeviceUnavailable(_) => "DEVICE_UNAVAILABLE",
            DggError::Tensor(_) => "INTERNAL",
            DggError::Graph(g) => match g {
                dgg_graph::GraphError::InvalidParameter { .. } => "INVALID_OPTION",
                dgg_graph::GraphError::Shape { .. } | dgg_graph::GraphError::NonFinite { .. } => "INVALID_DATA",
                dgg_graph::GraphError::Io { .. } => "IO_ERROR",
                dgg_graph::GraphError::Format { .. } => "MODEL_FORMAT",
                dgg_graph::GraphError::Cancelled => "CANCELLED",
                dgg_graph::GraphError::NonFiniteLoss { .. } => "NON_FINITE",
                _ => "INTERNAL",
            },
        }
    }

    pub(crate) fn option(field: &str, reason: impl Into<String>) -> Self {
        DggError::InvalidOption { field: field.to_string(), reason: reason.into() }
    }
}

pub type Result<T> = std::result::Result<T, DggError>;
