//! Spectral initialisation: pseudo-labels from the neighbour graph itself (Ng, Jordan and Weiss).
//! The top eigenvectors of the symmetrically normalised affinity D^-1/2 A D^-1/2, with
//! A = (W + W^T) / 2, are found by subspace iteration; their rows, normalised to unit length, are
//! clustered with k-means. On data whose kNN graph is pure, this partition is far better than
//! k-means on a freshly pretrained latent space, and DGG (whose graph term favours exactly such
//! partitions) starts from it.
//!
//! The affinity is regularised, A + tau 11^T / n (Qin and Rohe, 2013): a kNN graph often falls
//! apart into more components than clusters, and then the leading eigenvectors are arbitrary
//! mixtures of component indicators. tau is 0.3 times the mean degree ([`TAU_FRACTION`]).
//!
//! The eigenvectors come from Chebyshev-filtered subspace iteration (Zhou and Saad, 2007): the
//! leading eigenvalues of a kNN graph crowd within 1e-3 of each other, where plain subspace
//! iteration needs thousands of steps; a degree-m Chebyshev polynomial damps the unwanted part of
//! the spectrum about as much as m^2 plain steps.

use crate::kmeans::{kmeans_runs, KMeans};
use dgg_graph::{Graph, ReverseGraph};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

/// tau, the weight of the regularising all-ones graph, as a fraction of the mean degree. Qin and
/// Rohe's choice (1) compresses the cluster eigenvalues towards the noise: with exact
/// eigenvectors it costs MNIST's Siamese graph 14 points (0.968 at 0.3, 0.831 at 1); 0.3 still
/// keeps small components from taking eigenvectors, and digits (0.953) and pendigits (0.883) are
/// as good as at 1.
pub const TAU_FRACTION: f32 = 0.3;

/// y = S x, S = D^-1/2 (A + tau 11^T / n) D^-1/2, for a block of `b` column vectors stored
/// row-major (N x b). S's eigenvalues lie in [-1, 1].
fn apply(
    graph: &Graph,
    reverse: &ReverseGraph,
    inv_sqrt_deg: &[f32],
    tau: f32,
    x: &[f32],
    b: usize,
) -> Vec<f32> {
    let n = x.len() / b;
    // The rank-one part: tau / n * D^-1/2 1 (1^T D^-1/2 x), per column.
    let mut col = vec![0f32; b];
    for (i, row) in x.chunks_exact(b).enumerate() {
        for (c, v) in col.iter_mut().zip(row) {
            *c += inv_sqrt_deg[i] * v;
        }
    }
    col.iter_mut().for_each(|c| *c *= tau / n as f32);
    let mut y = vec![0f32; x.len()];
    y.par_chunks_mut(b).enumerate().for_each(|(i, yi)| {
        let mut acc = vec![0f32; b];
        let mut add = |j: usize, w: f32| {
            let s = 0.5 * w * inv_sqrt_deg[j];
            for (a, v) in acc.iter_mut().zip(&x[j * b..(j + 1) * b]) {
                *a += s * v;
            }
        };
        for e in 0..graph.k {
            add(
                graph.indices[i * graph.k + e] as usize,
                graph.weights[i * graph.k + e],
            );
        }
        for e in reverse.offsets[i]..reverse.offsets[i + 1] {
            add(reverse.sources[e] as usize, reverse.weights[e]);
        }
        for ((yv, a), c) in yi.iter_mut().zip(&acc).zip(&col) {
            *yv = inv_sqrt_deg[i] * (a + c);
        }
    });
    y
}

/// Orthonormalises the b columns of x (N x b, row-major) by modified Gram-Schmidt in f64.
pub fn orthonormalise(x: &mut [f32], b: usize) {
    let n = x.len() / b;
    for c in 0..b {
        for prev in 0..c {
            let dot: f64 = (0..n)
                .map(|i| x[i * b + c] as f64 * x[i * b + prev] as f64)
                .sum();
            for i in 0..n {
                x[i * b + c] -= (dot * x[i * b + prev] as f64) as f32;
            }
        }
        let norm = (0..n)
            .map(|i| (x[i * b + c] as f64).powi(2))
            .sum::<f64>()
            .sqrt()
            .max(1e-30);
        for i in 0..n {
            x[i * b + c] = (x[i * b + c] as f64 / norm) as f32;
        }
    }
}

/// Eigen-decomposition of a small symmetric matrix (row-major b x b) by cyclic Jacobi rotations,
/// in f64: (eigenvalues, eigenvectors as the columns of a row-major b x b matrix), unsorted.
fn symmetric_eigen(mut a: Vec<f64>, b: usize) -> (Vec<f64>, Vec<f64>) {
    let mut v = vec![0f64; b * b];
    (0..b).for_each(|i| v[i * b + i] = 1.0);
    for _sweep in 0..100 {
        let off: f64 = (0..b)
            .flat_map(|i| (0..b).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * b + j].powi(2))
            .sum();
        if off < 1e-30 {
            break;
        }
        for p in 0..b {
            for q in p + 1..b {
                let apq = a[p * b + q];
                if apq.abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q * b + q] - a[p * b + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let (c, s) = (1.0 / (t * t + 1.0).sqrt(), t / (t * t + 1.0).sqrt());
                for k in 0..b {
                    let (akp, akq) = (a[k * b + p], a[k * b + q]);
                    a[k * b + p] = c * akp - s * akq;
                    a[k * b + q] = s * akp + c * akq;
                }
                for k in 0..b {
                    let (apk, aqk) = (a[p * b + k], a[q * b + k]);
                    a[p * b + k] = c * apk - s * aqk;
                    a[q * b + k] = s * apk + c * aqk;
                }
                for k in 0..b {
                    let (vkp, vkq) = (v[k * b + p], v[k * b + q]);
                    v[k * b + p] = c * vkp - s * vkq;
                    v[k * b + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..b).map(|i| a[i * b + i]).collect(), v)
}

/// Rayleigh-Ritz on the orthonormal block x (N x b): rotates it into the eigenvectors of the
/// operator restricted to its span, largest first, given y = S x. Returns the Ritz values.
pub fn rayleigh_ritz(x: &mut [f32], y: &[f32], b: usize) -> Vec<f64> {
    let (values, rotation) = ritz(x, y, b);
    rotate(x, &rotation, b);
    values
}

/// The Ritz values (descending) and the b x b rotation (row-major) that takes x to the Ritz
/// vectors.
fn ritz(x: &[f32], y: &[f32], b: usize) -> (Vec<f64>, Vec<f64>) {
    let mut h = vec![0f64; b * b];
    for (xr, yr) in x.chunks_exact(b).zip(y.chunks_exact(b)) {
        for i in 0..b {
            for j in 0..b {
                h[i * b + j] += xr[i] as f64 * yr[j] as f64;
            }
        }
    }
    for i in 0..b {
        for j in 0..i {
            let m = 0.5 * (h[i * b + j] + h[j * b + i]);
            h[i * b + j] = m;
            h[j * b + i] = m;
        }
    }
    let (values, vectors) = symmetric_eigen(h, b);
    let mut order: Vec<usize> = (0..b).collect();
    order.sort_by(|&i, &j| values[j].total_cmp(&values[i]));
    let rotation = (0..b * b).map(|e| vectors[(e / b) * b + order[e % b]]).collect();
    (order.iter().map(|&o| values[o]).collect(), rotation)
}

/// x <- x R for a block of b columns (row-major) and a b x b matrix R.
fn rotate(x: &mut [f32], r: &[f64], b: usize) {
    x.par_chunks_mut(b).for_each(|row| {
        let old: Vec<f64> = row.iter().map(|&v| v as f64).collect();
        for (c, out) in row.iter_mut().enumerate() {
            *out = (0..b).map(|k| old[k] * r[k * b + c]).sum::<f64>() as f32;
        }
    });
}

/// Degree of the Chebyshev filter: each outer step applies the operator this many times.
const FILTER_DEGREE: usize = 8;
/// Stop once every wanted Ritz pair has |S v - theta v| below this (f32 arithmetic floors near 1e-6).
const RESIDUAL_TOLERANCE: f64 = 1e-5;

/// The `dims` leading eigenvectors of the normalised affinity, N x dims, largest eigenvalue first,
/// by Chebyshev-filtered subspace iteration with Rayleigh-Ritz, using at most `applications`
/// products with the operator. Each returned column is an eigenvector estimate (not just a basis
/// of the leading subspace), so the result does not depend on the random start once converged.
pub fn spectral_embedding(graph: &Graph, dims: usize, applications: usize, seed: u64) -> Vec<f32> {
    spectral_eigen(graph, dims, applications, seed).0
}

/// [`spectral_embedding`] with the Ritz values of the whole block (largest first; `2 dims + 5` of
/// them, or N), the eigenvalue estimates of the regularised normalised affinity.
pub fn spectral_eigen(graph: &Graph, dims: usize, applications: usize, seed: u64) -> (Vec<f32>, Vec<f64>) {
    let n = graph.n;
    let reverse = graph.reverse();
    let mut degree = vec![0.5f32; n]; // outgoing weights sum to 1, halved
    for (i, d) in degree.iter_mut().enumerate() {
        *d += 0.5
            * reverse.weights[reverse.offsets[i]..reverse.offsets[i + 1]]
                .iter()
                .sum::<f32>();
    }
    let tau = TAU_FRACTION * degree.iter().sum::<f32>() / n as f32;
    let inv_sqrt_deg: Vec<f32> = degree.iter().map(|d| 1.0 / (d + tau).sqrt()).collect();
    let op = |x: &[f32], b: usize| apply(graph, &reverse, &inv_sqrt_deg, tau, x, b);
    // Extra vectors speed up convergence of the wanted ones.
    let b = (2 * dims + 5).min(n);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut x: Vec<f32> = (0..n * b)
        .map(|_| StandardNormal.sample(&mut rng))
        .collect();
    orthonormalise(&mut x, b);
    let mut used = 0;
    let values = loop {
        // Ritz pairs of the current block, with y = S x rotated alongside x.
        let mut y = op(&x, b);
        used += 1;
        let (theta, rotation) = ritz(&x, &y, b);
        rotate(&mut x, &rotation, b);
        rotate(&mut y, &rotation, b);
        let residual = (0..dims.min(b))
            .map(|c| {
                x.chunks_exact(b)
                    .zip(y.chunks_exact(b))
                    .map(|(xr, yr)| (yr[c] as f64 - theta[c] * xr[c] as f64).powi(2))
                    .sum::<f64>()
                    .sqrt()
            })
            .fold(0.0, f64::max);
        if residual < RESIDUAL_TOLERANCE || used + FILTER_DEGREE > applications || b == n {
            break theta;
        }
        // Damp [-1, cut] (cut: the block's smallest Ritz value) by the Chebyshev polynomial
        // mapped onto it; the wanted eigenvalues, above cut, grow with the degree.
        let cut = theta[b - 1];
        let (centre, half) = ((cut - 1.0) / 2.0, (cut + 1.0) / 2.0);
        let step = |sy: &[f32], yv: &[f32], prev: Option<&[f32]>| -> Vec<f32> {
            let scale = if prev.is_some() { 2.0 } else { 1.0 } / half;
            sy.iter()
                .zip(yv)
                .enumerate()
                .map(|(e, (&s, &v))| {
                    let t = scale * (s as f64 - centre * v as f64);
                    (t - prev.map_or(0.0, |p| p[e] as f64)) as f32
                })
                .collect()
        };
        let mut previous = x;
        let mut current = step(&y, &previous, None);
        for _ in 1..FILTER_DEGREE {
            let s_current = op(&current, b);
            used += 1;
            let next = step(&s_current, &current, Some(&previous));
            previous = current;
            current = next;
        }
        x = current;
        orthonormalise(&mut x, b);
    };
    (x.chunks_exact(b).flat_map(|row| row[..dims].to_vec()).collect(), values)
}

/// How many eigenvectors spectral clustering into `k` clusters uses: `k + k / 3`.
///
/// With exactly `k`, a class that the graph splits into two halves (a slanted and an upright "1")
/// takes two of the vectors and two other classes must share one; k-means cannot undo that. A third
/// more gives it room, and on digits (0.875 -> 0.91-0.96), pendigits (0.88 -> 0.88) and MNIST
/// neither helps the split classes nor hurts the clean ones. Many more vectors bring in noise.
pub fn spectral_dims(k: usize) -> usize {
    k + k / 3
}

/// Restarts whose inertia is within this fraction of the lowest count as tied (see [`spectral_labels`]).
pub const INERTIA_TIE: f64 = 0.005;

/// Spectral clustering of the graph into k clusters. k-means on the unit-length spectral rows has
/// many local optima, and at least 100 restarts are needed to find the lowest reliably (they cost
/// far less than the eigenvectors). The lowest is not always the best: on digits a partition that
/// splits the 1s into slanted and upright halves and merges one half into the 5s comes within 0.3%
/// of the right one (ACC 0.91 against 0.95), on either side depending on the graph's ties. Such a
/// split makes clusters of uneven size, so among the restarts within [`INERTIA_TIE`] of the lowest
/// inertia the one whose cluster sizes have the highest entropy is taken.
pub fn spectral_labels(graph: &Graph, k: usize, restarts: usize, seed: u64) -> Vec<u32> {
    let restarts = restarts.max(100);
    let dims = spectral_dims(k).min(graph.n);
    let mut emb = spectral_embedding(graph, dims, 2000, seed);
    for row in emb.chunks_exact_mut(dims) {
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
        row.iter_mut().for_each(|v| *v /= norm);
    }
    choose_among_ties(kmeans_runs(&emb, graph.n, dims, k, restarts, seed), k)
}

/// The labels of the run with the most even cluster sizes (highest entropy) among those within
/// [`INERTIA_TIE`] of the lowest inertia; the earliest such run on exact ties.
pub fn choose_among_ties(runs: Vec<KMeans>, k: usize) -> Vec<u32> {
    let lowest = runs.iter().map(|r| r.inertia).fold(f64::INFINITY, f64::min);
    let size_entropy = |labels: &[u32]| {
        let mut counts = vec![0f64; k];
        labels.iter().for_each(|&l| counts[l as usize] += 1.0);
        counts.iter().filter(|&&c| c > 0.0).map(|&c| c / labels.len() as f64).map(|p| -p * p.ln()).sum::<f64>()
    };
    runs.into_iter()
        .filter(|r| r.inertia <= lowest * (1.0 + INERTIA_TIE))
        .map(|r| (size_entropy(&r.labels), r))
        .reduce(|best, cur| if cur.0 > best.0 + 1e-12 { cur } else { best })
        .expect("the lowest run is always kept")
        .1
        .labels
}
