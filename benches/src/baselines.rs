//! Baselines users would reach for instead of DGG: principal components and a diagonal Gaussian
//! mixture fitted by EM (scikit-learn's `GaussianMixture(covariance_type='diag')`: k-means
//! initialisation, covariance floor 1e-6, tolerance 1e-3 on the mean log-likelihood).

use dgg_core::spectral::symmetric_eigen;
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
    // Enough iterations for the leading axes; the Ritz step sorts and separates them.
    let b = (dims + 10).min(d);
    let mut q: Vec<f64> = (0..d * b).map(|i| ((i * 7919 % 1009) as f64 / 1009.0) - 0.5).collect();
    for _ in 0..60 {
        let mut y = vec![0f64; d * b];
        for r in 0..d {
            for k in 0..d {
                let c = cov[r * d + k];
                for col in 0..b {
                    y[r * b + col] += c * q[k * b + col];
                }
            }
        }
        gram_schmidt(&mut y, d, b);
        q = y;
    }
    // H = Q^T C Q, rotate Q into its eigenvectors.
    let mut cq = vec![0f64; d * b];
    for r in 0..d {
        for k in 0..d {
            for col in 0..b {
                cq[r * b + col] += cov[r * d + k] * q[k * b + col];
            }
        }
    }
    let mut h = vec![0f64; b * b];
    for r in 0..d {
        for i in 0..b {
            for j in 0..b {
                h[i * b + j] += q[r * b + i] * cq[r * b + j];
            }
        }
    }
    let (values, vectors) = symmetric_eigen(h, b);
    let mut order: Vec<usize> = (0..b).collect();
    order.sort_by(|&i, &j| values[j].total_cmp(&values[i]));
    let axes: Vec<Vec<f64>> = order[..dims].iter().map(|&o| (0..d).map(|r| (0..b).map(|k| q[r * b + k] * vectors[k * b + o]).sum()).collect()).collect();
    (0..n)
        .into_par_iter()
        .flat_map_iter(|i| {
            let row = &x[i * d..(i + 1) * d];
            let mean = &mean;
            axes.iter().map(move |a| a.iter().zip(row).zip(mean).map(|((w, v), m)| w * (*v as f64 - m)).sum::<f64>() as f32).collect::<Vec<_>>()
        })
        .collect()
}

fn gram_schmidt(y: &mut [f64], d: usize, b: usize) {
    for c in 0..b {
        for p in 0..c {
            let dot: f64 = (0..d).map(|r| y[r * b + c] * y[r * b + p]).sum();
            (0..d).for_each(|r| y[r * b + c] -= dot * y[r * b + p]);
        }
        let norm = (0..d).map(|r| y[r * b + c].powi(2)).sum::<f64>().sqrt().max(1e-300);
        (0..d).for_each(|r| y[r * b + c] /= norm);
    }
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
