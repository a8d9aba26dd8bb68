//! Graph weights over the kNN lists.
//!
//! DGG's objective is `J = 1/2 sum_i [ L(x_i) + sum_j w_ij L(x_i, x_j) ]` with `sum_j w_ij = 1`
//! over the neighbours of `i`: the point itself carries weight 1/2 and each neighbour `1/2 w_ij`.
//! The self term is therefore **not** stored here; a [`Graph`] holds only the `k` neighbour
//! weights of each row, and every row sums to 1.

use crate::error::{GraphError, Result};
use crate::knn::Neighbours;

/// How neighbour weights are computed from the kNN distances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Weighting {
    /// `w_ij = 1 / k` (what the public DGG code trains with).
    #[default]
    Uniform,
    /// `w_ij ∝ exp(-||x_i - x_j||^2 / (2 s_i^2))`, `s_i` the distance from `i` to its `rank`-th
    /// nearest neighbour (1-based). The public code's window, the 11th smallest distance counting
    /// the point itself, is `rank = 10`; use `Gaussian { rank: k.min(10) }`.
    Gaussian { rank: usize },
}

/// Row-major `n x k` neighbour ids and weights; each row's weights sum to 1.
#[derive(Debug, Clone, PartialEq)]
pub struct Graph {
    pub n: usize,
    pub k: usize,
    pub indices: Vec<u32>,
    pub weights: Vec<f32>,
}

/// Incoming edges in compressed-row form: the sources `i` with `j ∈ N(i)` are
/// `sources[offsets[j]..offsets[j + 1]]`, with the weights `w_ij` alongside. The engine uses it to
/// form `sum_{i: j ∈ N(i)} w_ij f(i)` for each point `j`.
#[derive(Debug, Clone, PartialEq)]
pub struct ReverseGraph {
    pub offsets: Vec<usize>,
    pub sources: Vec<u32>,
    pub weights: Vec<f32>,
}

/// Gaussian weights of one row from its (Euclidean) distances, in f64.
///
/// The exponent's row maximum is subtracted before `exp`, so no row underflows to all zeros. When
/// the window `s` is 0 (exact duplicates) the weights take their limit: equal shares among the
/// neighbours at distance 0.
///
/// ```
/// use dgg_graph::weights::gaussian_row;
/// // s = distance to the 2nd neighbour = 2: exponents -1/8, -4/8, -9/8.
/// let w = gaussian_row(&[1.0, 2.0, 3.0], 2).unwrap();
/// let e: Vec<f64> = [-1.0f64 / 8.0, -0.5, -9.0 / 8.0].iter().map(|v| v.exp()).collect();
/// let z: f64 = e.iter().sum();
/// for (a, b) in w.iter().zip(&e) {
///     assert!((*a as f64 - b / z).abs() < 1e-6);
/// }
/// assert!((w.iter().sum::<f32>() - 1.0).abs() < 1e-6);
/// ```
pub fn gaussian_row(dist: &[f32], rank: usize) -> Result<Vec<f32>> {
    if rank == 0 || rank > dist.len() {
        return Err(GraphError::invalid("rank", rank, format!("must be in 1..={}", dist.len())));
    }
    if let Some(i) = dist.iter().position(|v| !v.is_finite() || *v < 0.0) {
        return Err(GraphError::NonFinite { field: "distances", index: i, value: dist[i] as f64 });
    }
    let s = dist[rank - 1] as f64;
    let e: Vec<f64> = if s > 0.0 {
        dist.iter().map(|&v| -(v as f64).powi(2) / (2.0 * s * s)).collect()
    } else {
        // s -> 0 limit: only the zero-distance neighbours keep weight.
        dist.iter().map(|&v| if v == 0.0 { 0.0 } else { f64::NEG_INFINITY }).collect()
    };
    let m = e.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let p: Vec<f64> = e.iter().map(|v| (v - m).exp()).collect();
    let z: f64 = p.iter().sum();
    Ok(p.iter().map(|v| (v / z) as f32).collect())
}

impl Graph {
    /// Weights the kNN lists.
    pub fn from_neighbours(nb: &Neighbours, weighting: Weighting) -> Result<Graph> {
        let (n, k) = (nb.n, nb.k);
        if nb.indices.len() != n * k || nb.distances.len() != n * k {
            return Err(GraphError::shape(
                "neighbours",
                format!("{n} x {k} indices and distances"),
                format!("{} indices, {} distances", nb.indices.len(), nb.distances.len()),
            ));
        }
        let weights = match weighting {
            Weighting::Uniform => vec![1.0 / k as f32; n * k],
            Weighting::Gaussian { rank } => {
                if rank == 0 || rank > k {
                    return Err(GraphError::invalid("rank", rank, format!("must be in 1..={k}")));
                }
                let mut w = Vec::with_capacity(n * k);
                for i in 0..n {
                    w.extend(gaussian_row(nb.row_distances(i), rank)?);
                }
                w
            }
        };
        Graph::from_parts(n, k, nb.indices.clone(), weights)
    }

    /// A caller-supplied graph, validated: ids `< n`, no self loops (the self term is implicit),
    /// weights finite and `>= 0`, each row summing to 1 within 1e-4.
    pub fn from_parts(n: usize, k: usize, indices: Vec<u32>, weights: Vec<f32>) -> Result<Graph> {
        if k == 0 {
            return Err(GraphError::invalid("k", k, "must be at least 1"));
        }
        let len = n.checked_mul(k).ok_or_else(|| GraphError::invalid("n", n, "n * k overflows"))?;
        if indices.len() != len {
            return Err(GraphError::shape("indices", format!("{n} x {k} = {len}"), indices.len()));
        }
        if weights.len() != len {
            return Err(GraphError::shape("weights", format!("{n} x {k} = {len}"), weights.len()));
        }
        for (p, &j) in indices.iter().enumerate() {
            if j as usize >= n {
                return Err(GraphError::invalid("indices", j, format!("entry {p} must be < n = {n}")));
            }
            if j as usize == p / k {
                return Err(GraphError::invalid("indices", j, format!("row {} links to itself", p / k)));
            }
        }
        for (p, &w) in weights.iter().enumerate() {
            if !w.is_finite() || w < 0.0 {
                return Err(GraphError::invalid("weights", w, format!("entry {p} must be finite and >= 0")));
            }
        }
        for (i, row) in weights.chunks_exact(k).enumerate() {
            let s: f64 = row.iter().map(|&w| w as f64).sum();
            if (s - 1.0).abs() > 1e-4 {
                return Err(GraphError::invalid("weights", s, format!("row {i} must sum to 1")));
            }
        }
        Ok(Graph { n, k, indices, weights })
    }

    /// Neighbour ids of row `i`.
    pub fn row(&self, i: usize) -> &[u32] {
        &self.indices[i * self.k..(i + 1) * self.k]
    }

    /// Weights of row `i`.
    pub fn row_weights(&self, i: usize) -> &[f32] {
        &self.weights[i * self.k..(i + 1) * self.k]
    }

    /// The incoming edges of every point (counting sort by target, sources in increasing order).
    pub fn reverse(&self) -> ReverseGraph {
        let mut offsets = vec![0usize; self.n + 1];
        for &j in &self.indices {
            offsets[j as usize + 1] += 1;
        }
        for j in 0..self.n {
            offsets[j + 1] += offsets[j];
        }
        let mut fill = offsets.clone();
        let mut sources = vec![0u32; self.indices.len()];
        let mut weights = vec![0f32; self.indices.len()];
        for (p, (&j, &w)) in self.indices.iter().zip(&self.weights).enumerate() {
            let slot = &mut fill[j as usize];
            sources[*slot] = (p / self.k) as u32;
            weights[*slot] = w;
            *slot += 1;
        }
        ReverseGraph { offsets, sources, weights }
    }

    /// Fraction of neighbour slots whose label equals the point's own label.
    pub fn purity(&self, labels: &[u32]) -> Result<f64> {
        purity(&self.indices, self.n, self.k, labels)
    }

    /// Newman's modularity of a partition on the symmetrised graph A = (W + W^T) / 2:
    /// Q = sum_c [ w_cc / w - (vol_c / w)^2 ], with w the total weight, w_cc the weight of the
    /// edges inside cluster c and vol_c the summed degree of its points. It reads no labels but the
    /// partition's own: 0 for a single cluster, higher when the clusters cut fewer edges than chance.
    pub fn modularity(&self, partition: &[u32]) -> Result<f64> {
        if partition.len() != self.n {
            return Err(GraphError::shape("partition", self.n, partition.len()));
        }
        let k = partition.iter().map(|&c| c as usize + 1).max().unwrap_or(0);
        let mut vol = vec![0f64; k];
        let (mut inside, mut total) = (0f64, 0f64);
        for (p, (&j, &w)) in self.indices.iter().zip(&self.weights).enumerate() {
            let (ci, cj) = (partition[p / self.k], partition[j as usize]);
            let w = w as f64;
            total += w;
            if ci == cj {
                inside += w;
            }
            // Each directed edge gives half its weight to both ends' degrees in A.
            vol[ci as usize] += 0.5 * w;
            vol[cj as usize] += 0.5 * w;
        }
        if total <= 0.0 {
            return Ok(0.0);
        }
        Ok(inside / total - vol.iter().map(|v| (v / total).powi(2)).sum::<f64>())
    }
}

/// [`Graph::purity`] on bare lists, for [`Neighbours`] too.
pub fn purity(indices: &[u32], n: usize, k: usize, labels: &[u32]) -> Result<f64> {
    if labels.len() != n {
        return Err(GraphError::shape("labels", n, labels.len()));
    }
    if indices.len() != n * k {
        return Err(GraphError::shape("indices", n * k, indices.len()));
    }
    let mut same = 0usize;
    for (p, &j) in indices.iter().enumerate() {
        let lj = labels.get(j as usize).ok_or_else(|| GraphError::invalid("indices", j, format!("must be < n = {n}")))?;
        same += (labels[p / k] == *lj) as usize;
    }
    Ok(same as f64 / (n * k).max(1) as f64)
}
