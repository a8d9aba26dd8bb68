//! Input checks and scaling. Data arrive as one row-major f32 buffer; the scaler learned at fit time
//! is stored with the model so `predict` sees data on the same scale.

use crate::config::{Likelihood, ScaleMode};
use crate::error::{DggError, Result};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// Rejects empty, mis-sized or non-finite data, naming the first bad row and column (0-based).
pub fn validate_matrix(data: &[f32], n: usize, d: usize) -> Result<()> {
    if n == 0 || d == 0 {
        return Err(DggError::InvalidData(format!("data is empty ({n} rows x {d} columns)")));
    }
    if data.len() != n * d {
        return Err(DggError::InvalidData(format!("data has {} values, expected {n} rows x {d} columns = {}", data.len(), n * d)));
    }
    if let Some(pos) = data.iter().position(|v| !v.is_finite()) {
        return Err(DggError::InvalidData(format!("non-finite value {} at row {}, column {}", data[pos], pos / d, pos % d)));
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Scaler {
    None,
    /// Divide by the global maximum (non-negative data such as pixel intensities or counts).
    Max {
        max: f32,
    },
    /// Per-feature zero mean and unit variance (constant features are only centred).
    Standardize {
        mean: Vec<f32>,
        std: Vec<f32>,
    },
}

impl Scaler {
    /// Learns the scaling. `Auto`: none when the data are already in [0, 1], the global maximum when
    /// they are non-negative, per-feature standardisation otherwise.
    pub fn fit(mode: ScaleMode, data: &[f32], n: usize, d: usize) -> Scaler {
        let (lo, hi) = data.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        let mode = match mode {
            ScaleMode::Auto if lo >= 0.0 && hi <= 1.0 => ScaleMode::None,
            ScaleMode::Auto if lo >= 0.0 => ScaleMode::Max,
            ScaleMode::Auto => ScaleMode::Standardize,
            m => m,
        };
        match mode {
            ScaleMode::None | ScaleMode::Auto => Scaler::None,
            ScaleMode::Max => Scaler::Max { max: if hi > 0.0 { hi } else { 1.0 } },
            ScaleMode::Standardize => {
                let mut mean = vec![0f64; d];
                let mut sq = vec![0f64; d];
                for row in data.chunks_exact(d) {
                    for j in 0..d {
                        mean[j] += row[j] as f64;
                        sq[j] += (row[j] as f64).powi(2);
                    }
                }
                let nf = n as f64;
                let std = (0..d)
                    .map(|j| {
                        let var = (sq[j] / nf - (mean[j] / nf).powi(2)).max(0.0);
                        if var > 1e-12 {
                            var.sqrt() as f32
                        } else {
                            1.0
                        }
                    })
                    .collect();
                Scaler::Standardize { mean: mean.iter().map(|m| (m / nf) as f32).collect(), std }
            }
        }
    }

    pub fn apply<'a>(&self, data: &'a [f32], d: usize) -> Cow<'a, [f32]> {
        match self {
            Scaler::None => Cow::Borrowed(data),
            Scaler::Max { max } => Cow::Owned(data.iter().map(|v| v / max).collect()),
            Scaler::Standardize { mean, std } => {
                Cow::Owned(data.chunks_exact(d).flat_map(|row| row.iter().enumerate().map(|(j, v)| (v - mean[j]) / std[j])).collect())
            }
        }
    }
}

/// Bernoulli when every scaled value lies in [0, 1], else Gaussian.
pub fn choose_likelihood(scaled: &[f32]) -> Likelihood {
    if scaled.iter().all(|&v| (0.0..=1.0).contains(&v)) {
        Likelihood::Bernoulli
    } else {
        Likelihood::Gaussian
    }
}
