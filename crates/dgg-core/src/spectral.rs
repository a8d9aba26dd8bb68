//! Spectral initialisation: pseudo-labels from the neighbour graph itself (Ng, Jordan and Weiss).
//! The top eigenvectors of the symmetrically normalised affinity D^-1/2 A D^-1/2, with
//! A = (W + W^T) / 2, are found by subspace iteration; their rows, normalised to unit length, are
//! clustered with k-means. On data whose kNN graph is pure, this partition is far better than
//! k-means on a freshly pretrained latent space, and DGG (whose graph term favours exactly such
//! partitions) starts from it.
//!
//! The affinity is regularised, A + tau 11^T / n with tau the mean degree (Qin and Rohe, 2013): a
//! kNN graph often falls apart into more components than clusters, and then the leading
//! eigenvectors are arbitrary mixtures of component indicators.

use crate::kmeans::kmeans;
use dgg_graph::{Graph, ReverseGraph};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

/// y = D^-1/2 A D^-1/2 x for a block of `b` column vectors stored row-major (N x b), shifted as
/// (I + S) / 2 so every eigenvalue is in [0, 1] and the wanted ones are the largest.
fn apply(graph: &Graph, reverse: &ReverseGraph, inv_sqrt_deg: &[f32], tau: f32, x: &[f32], b: usize) -> Vec<f32> {
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
            add(graph.indices[i * graph.k + e] as usize, graph.weights[i * graph.k + e]);
        }
        for e in reverse.offsets[i]..reverse.offsets[i + 1] {
            add(reverse.sources[e] as usize, reverse.weights[e]);
        }
        for (((yv, a), xv), c) in yi.iter_mut().zip(&acc).zip(&x[i * b..(i + 1) * b]).zip(&col) {
            *yv = 0.5 * (xv + inv_sqrt_deg[i] * (a + c));
        }
    });
    y
}

/// Orthonormalises the b columns of x (N x b, row-major) by modified Gram-Schmidt in f64.
fn orthonormalise(x: &mut [f32], b: usize) {
    let n = x.len() / b;
    for c in 0..b {
        for prev in 0..c {
            let dot: f64 = (0..n).map(|i| x[i * b + c] as f64 * x[i * b + prev] as f64).sum();
            for i in 0..n {
                x[i * b + c] -= (dot * x[i * b + prev] as f64) as f32;
            }
        }
        let norm = (0..n).map(|i| (x[i * b + c] as f64).powi(2)).sum::<f64>().sqrt().max(1e-30);
        for i in 0..n {
            x[i * b + c] = (x[i * b + c] as f64 / norm) as f32;
        }
    }
}

/// The `dims` leading eigenvectors of the normalised affinity, N x dims.
pub fn spectral_embedding(graph: &Graph, dims: usize, iterations: usize, seed: u64) -> Vec<f32> {
    let n = graph.n;
    let reverse = graph.reverse();
    let mut degree = vec![0.5f32; n]; // outgoing weights sum to 1, halved
    for (i, d) in degree.iter_mut().enumerate() {
        *d += 0.5 * reverse.weights[reverse.offsets[i]..reverse.offsets[i + 1]].iter().sum::<f32>();
    }
    let tau = degree.iter().sum::<f32>() / n as f32;
    let inv_sqrt_deg: Vec<f32> = degree.iter().map(|d| 1.0 / (d + tau).sqrt()).collect();
    // A few extra vectors speed up convergence of the wanted ones.
    let b = (dims + 5).min(n);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut x: Vec<f32> = (0..n * b).map(|_| StandardNormal.sample(&mut rng)).collect();
    orthonormalise(&mut x, b);
    for _ in 0..iterations {
        x = apply(graph, &reverse, &inv_sqrt_deg, tau, &x, b);
        orthonormalise(&mut x, b);
    }
    x.chunks_exact(b).flat_map(|row| row[..dims].to_vec()).collect()
}

/// Spectral clustering of the graph into k clusters.
pub fn spectral_labels(graph: &Graph, k: usize, restarts: usize, seed: u64) -> Vec<u32> {
    let mut emb = spectral_embedding(graph, k, 1000, seed);
    for row in emb.chunks_exact_mut(k) {
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
        row.iter_mut().for_each(|v| *v /= norm);
    }
    kmeans(&emb, graph.n, k, k, restarts, seed).labels
}
