//! Progress reporting and cooperative cancellation, shared with the engine crate.
//!
//! Long loops call [`Control::check_cancel`] once per batch: the Node binding sets the flag from an
//! `AbortSignal`, and polling is the only way to stop work already running on a worker thread.

use crate::error::{GraphError, Result};
use std::sync::atomic::{AtomicBool, Ordering};

/// One progress record, emitted per batch (or per chunk for kNN construction).
#[derive(Debug, Clone, Copy)]
pub struct Progress<'a> {
    /// What is running, e.g. `"siamese"`, `"knn"`.
    pub phase: &'a str,
    /// Zero-based epoch (or chunk group) index.
    pub epoch: usize,
    pub epochs: usize,
    /// Zero-based batch index within the epoch.
    pub batch: usize,
    pub batches: usize,
    /// Named loss values of the current batch (may be empty).
    pub losses: &'a [(&'a str, f64)],
}

/// Optional progress callback and cancel flag. `Copy`, so it is passed down by reference freely.
#[derive(Clone, Copy, Default)]
pub struct Control<'a> {
    pub progress: Option<&'a (dyn Fn(&Progress) + Sync)>,
    pub cancel: Option<&'a AtomicBool>,
}

impl<'a> Control<'a> {
    /// No callback, never cancelled.
    pub const fn none() -> Self {
        Control { progress: None, cancel: None }
    }

    /// Calls the progress callback, if any.
    pub fn report(&self, p: &Progress) {
        if let Some(f) = self.progress {
            f(p);
        }
    }

    /// `Err(Cancelled)` once the flag is set.
    pub fn check_cancel(&self) -> Result<()> {
        match self.cancel {
            // Relaxed is enough: the flag carries no data, we only need to see it eventually.
            Some(flag) if flag.load(Ordering::Relaxed) => Err(GraphError::Cancelled),
            _ => Ok(()),
        }
    }

    /// True once the flag is set.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_some_and(|f| f.load(Ordering::Relaxed))
    }
}

impl std::fmt::Debug for Control<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control").field("progress", &self.progress.is_some()).field("cancel", &self.is_cancelled()).finish()
    }
}
