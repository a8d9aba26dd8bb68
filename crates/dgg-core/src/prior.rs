//! The per-point prior pi and the graph sums the per-point objective needs.
//!
//! pi update (closed form): the terms of J holding pi_i are 1/2 sum_j w_ij sum_k (gamma_ik + gamma_jk) ln pi_ik;
//! maximising them under sum_k pi_ik = 1 (Lagrange multiplier; sum_j w_ij = 1, sum_k gamma = 1) gives
//!
//! ```text
//! pi_ik = 1/2 (gamma_ik + sum_j w_ij gamma_jk)
//! ```
//!
//! ```
//! use dgg_core::prior::{GammaTable, pi_row};
//! use dgg_graph::Graph;
//! // Three points; point 0's neighbours are 1 and 2 with weights 0.25 and 0.75.
//! let g = Graph::from_parts(3, 2, vec![1, 2, 0, 2, 0, 1], vec![0.25, 0.75, 0.5, 0.5, 0.5, 0.5]).unwrap();
//! let gamma = GammaTable { k: 2, values: vec![1.0, 0.0, 0.0, 1.0, 0.5, 0.5] };
//! let pi = pi_row(0, &g, &gamma);
//! // 1/2 (gamma_0 + 0.25 gamma_1 + 0.75 gamma_2) = 1/2 ([1, 0] + [0, 0.25] + [0.375, 0.375])
//! assert!((pi[0] - 0.6875).abs() < 1e-6 && (pi[1] - 0.3125).abs() < 1e-6);
//! ```

use dgg_graph::{Graph, ReverseGraph};
use rayon::prelude::*;

/// Probabilities are floored here before the logarithm so an empty cluster never gives -inf.
pub const PI_FLOOR: f32 = 1e-10;

/// The latest gamma of every point, N x K, refreshed after each step for the points of the batch.
#[derive(Debug, Clone, Default)]
pub struct GammaTable {
    pub k: usize,
    pub values: Vec<f32>,
}

impl GammaTable {
    pub fn row(&self, i: usize) -> &[f32] {
        &self.values[i * self.k..(i + 1) * self.k]
    }

    pub fn set_rows(&mut self, rows: &[u32], gamma: &[f32]) {
        for (r, &i) in rows.iter().enumerate() {
            let i = i as usize;
            self.values[i * self.k..(i + 1) * self.k].copy_from_slice(&gamma[r * self.k..(r + 1) * self.k]);
        }
    }
}

/// pi_i = 1/2 (gamma_i + sum_j w_ij gamma_j).
pub fn pi_row(i: usize, graph: &Graph, gamma: &GammaTable) -> Vec<f32> {
    let k = gamma.k;
    let mut pi: Vec<f32> = gamma.row(i).iter().map(|g| 0.5 * g).collect();
    for (j, w) in graph.indices[i * graph.k..(i + 1) * graph.k].iter().zip(&graph.weights[i * graph.k..(i + 1) * graph.k]) {
        for (p, g) in pi.iter_mut().zip(gamma.row(*j as usize)) {
            *p += 0.5 * w * g;
        }
    }
    debug_assert_eq!(pi.len(), k);
    pi
}

fn ln_pi(i: usize, graph: &Graph, gamma: &GammaTable) -> Vec<f32> {
    pi_row(i, graph, gamma).into_iter().map(|p| p.max(PI_FLOOR).ln()).collect()
}

/// B_p = ln pi_p + sum_{i: p in N(i)} w_ip ln pi_i for each point of the batch, P x K (row-major).
/// Computed on demand from the gamma table, so no N x K table of pi is kept or refreshed.
pub fn prior_rows(batch: &[u32], graph: &Graph, reverse: &ReverseGraph, gamma: &GammaTable) -> Vec<f32> {
    batch
        .par_iter()
        .flat_map_iter(|&p| {
            let p = p as usize;
            let mut b = ln_pi(p, graph, gamma);
            for e in reverse.offsets[p]..reverse.offsets[p + 1] {
                let w = reverse.weights[e];
                for (bk, l) in b.iter_mut().zip(ln_pi(reverse.sources[e] as usize, graph, gamma)) {
                    *bk += w * l;
                }
            }
            b
        })
        .collect()
}

/// t_p = x_p + sum_{i: p in N(i)} w_ip x_i and s_p = 1 + sum_{i: p in N(i)} w_ip, for every point.
/// Computed once per graph: the data do not change during training.
pub fn graph_targets(x: &[f32], d: usize, reverse: &ReverseGraph) -> (Vec<f32>, Vec<f32>) {
    let n = reverse.offsets.len() - 1;
    let mut targets = x.to_vec();
    let s: Vec<f32> = targets
        .par_chunks_exact_mut(d)
        .enumerate()
        .map(|(p, t)| {
            let mut c = 0.0;
            for e in reverse.offsets[p]..reverse.offsets[p + 1] {
                let (i, w) = (reverse.sources[e] as usize, reverse.weights[e]);
                c += w;
                for (tv, xv) in t.iter_mut().zip(&x[i * d..(i + 1) * d]) {
                    *tv += w * xv;
                }
            }
            1.0 + c
        })
        .collect();
    debug_assert_eq!(s.len(), n);
    (targets, s)
}

/// The graph that makes DGG a VAE-like model: each point is its own single neighbour.
pub fn self_graph(n: usize) -> Graph {
    Graph { n, k: 1, indices: (0..n as u32).collect(), weights: vec![1.0; n] }
}
