//! k-nearest-neighbour search: the result type, the choice between exact search
//! ([`crate::exact`]) and HNSW ([`crate::hnsw`]), recall, and the distance kernel both use.
//!
//! All searches return [`Neighbours`]: per point its `k` nearest *other* points (the point itself is
//! excluded), sorted by increasing **Euclidean (not squared)** distance, ties broken by the smaller
//! index so results are deterministic.

use crate::control::Control;
use crate::error::{GraphError, Result};
use crate::exact::exact_search;
use crate::hnsw::{hnsw_knn_with_control, HnswParams};
use std::cmp::Ordering;

/// Row-major `n x k` neighbour lists.
#[derive(Debug, Clone, PartialEq)]
pub struct Neighbours {
    pub n: usize,
    pub k: usize,
    /// Neighbour ids, row `i` at `[i * k .. (i + 1) * k]`.
    pub indices: Vec<u32>,
    /// Euclidean distances matching `indices`, increasing along each row.
    pub distances: Vec<f32>,
}

impl Neighbours {
    /// Ids of the neighbours of row `i`.
    pub fn row(&self, i: usize) -> &[u32] {
        &self.indices[i * self.k..(i + 1) * self.k]
    }

    /// Distances of row `i`.
    pub fn row_distances(&self, i: usize) -> &[f32] {
        &self.distances[i * self.k..(i + 1) * self.k]
    }

    /// Fraction of neighbour slots whose label equals the point's own label.
    pub fn purity(&self, labels: &[u32]) -> Result<f64> {
        crate::weights::purity(&self.indices, self.n, self.k, labels)
    }

    /// The first `k` neighbours of each row (rows are sorted, so these are the `k` nearest).
    pub fn truncate(&self, k: usize) -> Result<Neighbours> {
        if k == 0 || k > self.k {
            return Err(GraphError::invalid("k", k, format!("must be in 1..={}", self.k)));
        }
        let mut indices = Vec::with_capacity(self.n * k);
        let mut distances = Vec::with_capacity(self.n * k);
        for i in 0..self.n {
            indices.extend_from_slice(&self.row(i)[..k]);
            distances.extend_from_slice(&self.row_distances(i)[..k]);
        }
        Ok(Neighbours { n: self.n, k, indices, distances })
    }
}

/// Which search [`knn`] runs.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum KnnMethod {
    /// Exact when [`auto_prefers_exact`], else HNSW with [`HnswParams::for_k`].
    #[default]
    Auto,
    Exact,
    Hnsw(HnswParams),
}

/// Whether [`KnnMethod::Auto`] searches exactly: when `n <= 15000 (1154 + d) / (167 + d)`, about
/// 30,000 points at 784-d and 99,000 at 10-d (the Siamese space).
///
/// The bound equates two cost models fitted on the 2-core development machine: exact search costs
/// `n^2 (3.8 + 0.023 d)` ns (the GEMM, plus a scan of every distance, which dominates at small
/// `d`), HNSW build + search with [`HnswParams::for_k`] about `n (390 + 0.34 d)` us. Near the
/// crossing exact search is preferred: it is deterministic and has recall 1. Its scratch memory
/// stays near 128 MB whatever `n`.
pub fn auto_prefers_exact(n: usize, d: usize) -> bool {
    (n as f64) <= 15_000.0 * (1154.0 + d as f64) / (167.0 + d as f64)
}

/// Searches `k` neighbours of every row of `data` (`n x d`, row-major).
pub fn knn(data: &[f32], n: usize, d: usize, k: usize, method: &KnnMethod) -> Result<Neighbours> {
    knn_with_control(data, n, d, k, method, &Control::none())
}

/// [`knn`] with progress (phase `"knn"`) and cancellation.
pub fn knn_with_control(data: &[f32], n: usize, d: usize, k: usize, method: &KnnMethod, ctl: &Control) -> Result<Neighbours> {
    match method {
        KnnMethod::Exact => exact_search(data, n, d, None, k, ctl),
        KnnMethod::Hnsw(p) => hnsw_knn_with_control(data, n, d, k, p, ctl),
        KnnMethod::Auto if auto_prefers_exact(n, d) => exact_search(data, n, d, None, k, ctl),
        KnnMethod::Auto => hnsw_knn_with_control(data, n, d, k, &HnswParams::for_k(k), ctl),
    }
}

/// Mean fraction of the exact neighbours found: row `r` of `exact` belongs to point `queries[r]`,
/// compared with row `queries[r]` of `approx` (same `k` required).
pub fn recall(approx: &Neighbours, exact: &Neighbours, queries: &[usize]) -> Result<f64> {
    if approx.k != exact.k {
        return Err(GraphError::shape("exact.k", approx.k, exact.k));
    }
    if exact.n != queries.len() {
        return Err(GraphError::shape("queries", exact.n, queries.len()));
    }
    if let Some(&q) = queries.iter().find(|&&q| q >= approx.n) {
        return Err(GraphError::invalid("queries", q, format!("must be < n = {}", approx.n)));
    }
    let hits: usize = queries
        .iter()
        .enumerate()
        .map(|(r, &q)| {
            let a = approx.row(q);
            exact.row(r).iter().filter(|j| a.contains(j)).count()
        })
        .sum();
    Ok(hits as f64 / (queries.len().max(1) * exact.k) as f64)
}

/// Squared Euclidean distance. Independent accumulators let the compiler vectorise the loop (a
/// plain `sum()` over f32 is sequential, float addition not being associative); AVX2 is used when
/// the CPU has it. Every lane adds in the same order on both paths, so results are identical.
#[inline]
pub fn sq_l2(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, the only feature sq_l2_avx2 enables.
            return unsafe { sq_l2_avx2(a, b) };
        }
    }
    sq_l2_lanes(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn sq_l2_avx2(a: &[f32], b: &[f32]) -> f32 {
    sq_l2_lanes(a, b)
}

#[inline(always)]
fn sq_l2_lanes(a: &[f32], b: &[f32]) -> f32 {
    const L: usize = 32;
    let mut acc = [0f32; L];
    let (ca, cb) = (a.chunks_exact(L), b.chunks_exact(L));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..L {
            let t = x[l] - y[l];
            acc[l] += t * t;
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        s += (x - y) * (x - y);
    }
    s
}

/// Total order on (distance, index): deterministic tie-breaking.
#[inline]
pub(crate) fn by_dist_then_id(a: &(f32, u32), b: &(f32, u32)) -> Ordering {
    a.0.total_cmp(&b.0).then(a.1.cmp(&b.1))
}

pub(crate) fn check_k(n: usize, k: usize) -> Result<()> {
    if k == 0 {
        return Err(GraphError::invalid("k", k, "must be at least 1"));
    }
    if n <= k {
        return Err(GraphError::invalid("n", n, format!("must exceed k = {k}")));
    }
    if n > u32::MAX as usize {
        return Err(GraphError::invalid("n", n, "ids are u32"));
    }
    Ok(())
}
