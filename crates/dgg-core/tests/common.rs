//! Shared fixtures for the engine's tests: small random problems with a fixed seed.
#![allow(dead_code)]

use dgg_graph::Graph;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// n x d values in [0, 1].
pub fn unit_data(n: usize, d: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n * d).map(|_| rng.gen::<f32>()).collect()
}

/// A random graph with k distinct neighbours per point (never itself) and random weights summing to 1.
pub fn random_graph(n: usize, k: usize, seed: u64) -> Graph {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut indices = Vec::with_capacity(n * k);
    let mut weights = Vec::with_capacity(n * k);
    for i in 0..n {
        let mut row: Vec<u32> = Vec::new();
        while row.len() < k {
            let j = rng.gen_range(0..n as u32);
            if j as usize != i && !row.contains(&j) {
                row.push(j);
            }
        }
        let w: Vec<f32> = (0..k).map(|_| rng.gen_range(0.1f32..1.0)).collect();
        let total: f32 = w.iter().sum();
        indices.extend(row);
        weights.extend(w.iter().map(|v| v / total));
    }
    Graph::from_parts(n, k, indices, weights).expect("valid graph")
}

/// Three well separated Gaussian blobs in `d` dimensions, with their labels.
pub fn blobs(per: usize, d: usize, seed: u64) -> (Vec<f32>, Vec<u32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut x = Vec::new();
    let mut y = Vec::new();
    for c in 0..3u32 {
        for _ in 0..per {
            for j in 0..d {
                let centre = if j % 3 == c as usize { 0.8 } else { 0.2 };
                x.push((centre + rng.gen_range(-0.1f32..0.1)).clamp(0.0, 1.0));
            }
            y.push(c);
        }
    }
    (x, y)
}
