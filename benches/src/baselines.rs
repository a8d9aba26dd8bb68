//! Baselines users would reach for instead of DGG: principal components and a diagonal Gaussian
//! mixture fitted by EM (scikit-learn's `GaussianMixture(covariance_type='diag')`: k-means
//! initialisation, covariance floor 1e-6, tolerance 1e-3 on the mean log-likelihood).

use dgg_core::spectral::{orthonormalise, rayleigh_ritz};
use rayon::prelude::*;

/// The data (n x d) projected on its `dims` leading principal axes: covariance in f64, then subspace
/// iteration with a Rayleigh-Ritz rotation.
pub fn pca(x: &[f32], n: usize, d: usize, dims: usize) -> Vec<f32> {
    let mean: Vec<f64> = (0..d).map(|j| (0..n).map(|i| x[i * d + j] as f64).sum::<f64>() / n as f64).collect();
    let cov: Vec<f64> = (0..d)
        .into_par_iter()
        .flat_map_iter(|a| {
            let mean = &mean;
            (0..d).map(move |b| (0..n).map(|i| (x[i * d + a] as f64 - mean[a]) * (x[i * d + b] as f64 - mean[b])).sum::<f64>() / n as f64)
        })
        .collect();
    // Subspace iteration on the covariance, then a Rayleigh-Ritz rotation sorts and separates the
    // leading axes (the same routines as the spectral initialisation).
    let b = (dims + 10).min(d);
    let cov = &cov;
    let times_cov = |q: &[f32]| -> Vec<f32> {
        (0..d).flat_map(|r| (0..b).map(move |col| (0..d).map(|k| cov[r * d + k] * q[k * b + col] as f64).sum::<f64>() as f32)).collect()
    };
    let mut q: Vec<f32> = (0..d * b).map(|i| ((i * 7919 % 1009) as f32 / 1009.0) - 0.5).collect();
    orthonormalise(&mut q, b);
    for _ in 0..60 {
        q = times_cov(&q);
        orthonormalise(&mut q, b);
    }
    let cq = times_cov(&q);
    rayleigh_ritz(&mut q, &cq, b);
    let axes: Vec<Vec<f64>> = (0..dims).map(|c| (0..d).map(|r| q[r * b + c] as f64).collect()).collect();
    (0..n)
        .into_par_iter()
        .flat_map_iter(|i| {
            let row = &x[i * d..(i + 1) * d];
            let mean = &mean;
            axes.iter().map(move |a| a.iter().zip(row).zip(mean).map(|((w, v), m)| w * (*v as f64 - m)).sum::<f64>() as f32).collect::<Vec<_>>()
        })
        .collect()
}

/// Diagonal-covariance Gaussian mixture by EM from a k-means partition; returns the hard labels.
pub fn gmm_diag(x: &[f32], n: usize, d: usize, k: usize, seed: u64) -> Vec<u32> {
    let mut resp = vec![0f64; n * k];
    for (i, &l) in dgg_core::kmeans::kmeans(x, n, d, k, 1, seed).labels.iter().enumerate() {
        resp[i * k + l as usize] = 1.0;
    }
    let mut previous = f64::NEG_INFINITY;
    for _ in 0..100 {
        // M step.
        let nk: Vec<f64> = (0..k).map(|c| (0..n).map(|i| resp[i * k + c]).sum::<f64>() + 1e-10).collect();
        let mut means = vec![0f64; k * d];
        let mut vars = vec![0f64; k * d];
        for i in 0..n {
            for c in 0..k {
                let r = resp[i * k + c];
                if r > 0.0 {
                    for j in 0..d {
                        means[c * d + j] += r * x[i * d + j] as f64;
                    }
                }
            }
        }
        (0..k * d).for_each(|t| means[t] /= nk[t / d]);
        for i in 0..n {
            for c in 0..k {
                let r = resp[i * k + c];
                if r > 0.0 {
                    for j in 0..d {
                        vars[c * d + j] += r * (x[i * d + j] as f64 - means[c * d + j]).powi(2);
                    }
                }
            }
        }
        (0..k * d).for_each(|t| vars[t] = vars[t] / nk[t / d] + 1e-6);
        let log_w: Vec<f64> = nk.iter().map(|v| (v / n as f64).ln()).collect();
        let log_norm: Vec<f64> = (0..k).map(|c| -0.5 * (0..d).map(|j| (2.0 * std::f64::consts::PI * vars[c * d + j]).ln()).sum::<f64>()).collect();
        // E step.
        let total: f64 = resp
            .par_chunks_mut(k)
            .enumerate()
            .map(|(i, r)| {
                let row = &x[i * d..(i + 1) * d];
                for c in 0..k {
                    let q: f64 = (0..d).map(|j| (row[j] as f64 - means[c * d + j]).powi(2) / vars[c * d + j]).sum();
                    r[c] = log_w[c] + log_norm[c] - 0.5 * q;
                }
                let m = r.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let z: f64 = r.iter().map(|v| (v - m).exp()).sum();
                r.iter_mut().for_each(|v| *v = (*v - m).exp() / z);
                m + z.ln()
            })
            .sum();
        let mean_ll = total / n as f64;
        if (mean_ll - previous).abs() < 1e-3 {
            break;
        }
        previous = mean_ll;
    }
    dgg_core::model::argmax_rows(&resp.iter().map(|&v| v as f32).collect::<Vec<_>>(), k)
}
