//! k-nearest-neighbour search: exact (blocked GEMM) and approximate (HNSW, see [`crate::hnsw`]).
//!
//! All searches return [`Neighbours`]: per point its `k` nearest *other* points (the point itself is
//! excluded), sorted by increasing **Euclidean (not squared)** distance, ties broken by the smaller
//! index so results are deterministic.

use crate::control::Control;
use crate::error::{check_matrix, GraphError, Result};
use crate::hnsw::{hnsw_knn_with_control, HnswParams};
use candle_core::{Device, Storage, Tensor};
use rayon::prelude::*;
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
    /// Exact when `n * n * d <= AUTO_EXACT_MAX_WORK`, HNSW with default parameters above.
    #[default]
    Auto,
    Exact,
    Hnsw(HnswParams),
}

/// `n * n * d` up to which [`KnnMethod::Auto`] searches exactly. The exact search costs `2 n^2 d` flops
/// and runs at roughly 100 GFLOP/s on two cores, so 5e10 means about a second: 8,000 points at
/// 784-d, all of MNIST at 10-d (the Siamese space), 50,000 points at 16-d. Beyond it HNSW
/// (O(n log n)) is faster and, with the default parameters, keeps recall@20 above 0.98.
pub const AUTO_EXACT_MAX_WORK: f64 = 5e10;

/// Searches `k` neighbours of every row of `data` (`n x d`, row-major).
pub fn knn(data: &[f32], n: usize, d: usize, k: usize, method: &KnnMethod) -> Result<Neighbours> {
    knn_with_control(data, n, d, k, method, &Control::none())
}

/// [`knn`] with progress (phase `"knn"`) and cancellation.
pub fn knn_with_control(
    data: &[f32],
    n: usize,
    d: usize,
    k: usize,
    method: &KnnMethod,
    ctl: &Control,
) -> Result<Neighbours> {
    match method {
        KnnMethod::Exact => exact_search(data, n, d, None, k, ctl),
        KnnMethod::Hnsw(p) => hnsw_knn_with_control(data, n, d, k, p, ctl),
        KnnMethod::Auto if (n as f64) * (n as f64) * (d as f64) <= AUTO_EXACT_MAX_WORK => {
            exact_search(data, n, d, None, k, ctl)
        }
        KnnMethod::Auto => hnsw_knn_with_control(data, n, d, k, &HnswParams::default(), ctl),
    }
}

/// Exact `k` nearest neighbours of every point.
pub fn exact_knn(data: &[f32], n: usize, d: usize, k: usize) -> Result<Neighbours> {
    exact_search(data, n, d, None, k, &Control::none())
}

/// Exact neighbours of the points `queries` only (for recall on a sample); row `r` of the result
/// belongs to point `queries[r]`, and `result.n == queries.len()`.
pub fn exact_knn_queries(
    data: &[f32],
    n: usize,
    d: usize,
    queries: &[usize],
    k: usize,
) -> Result<Neighbours> {
    exact_search(data, n, d, Some(queries), k, &Control::none())
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
pub(crate) fn sq_l2(a: &[f32], b: &[f32]) -> f32 {
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

/// Extra candidates taken from the GEMM distances before exact re-ranking: ||a||^2 + ||b||^2 - 2ab
/// loses digits to cancellation for near points, so the final order comes from direct differences.
const RERANK_EXTRA: usize = 8;

/// Rows of the GEMM block: keeps the `block x n` distance matrix near 32M floats (128 MB).
fn block_rows(n: usize) -> usize {
    (32_000_000 / n).clamp(1, 1024)
}

/// The `m` smallest `||q||^2 + ||x_j||^2 - 2 q.x_j` over `j != q`, kept in a small sorted buffer:
/// most candidates fail one comparison with the current worst, so this stays cheap when `d` is
/// small and the O(n^2) scan, not the GEMM, dominates.
fn smallest(grow: &[f32], norms: &[f32], q: usize, m: usize) -> Vec<(f32, u32)> {
    let qn = norms[q];
    let mut best: Vec<(f32, u32)> = Vec::with_capacity(m + 1);
    let mut worst = f32::INFINITY;
    for (j, (&gj, &nj)) in grow.iter().zip(norms).enumerate() {
        let dj = qn + nj - 2.0 * gj;
        // Ids arrive in increasing order, so an equal distance never displaces (ties keep low ids).
        if dj < worst && j != q {
            let pos = best.partition_point(|&(b, _)| b <= dj);
            best.insert(pos, (dj, j as u32));
            if best.len() > m {
                best.pop();
            }
            if best.len() == m {
                worst = best[m - 1].0;
            }
        }
    }
    best
}

fn exact_search(
    data: &[f32],
    n: usize,
    d: usize,
    queries: Option<&[usize]>,
    k: usize,
    ctl: &Control,
) -> Result<Neighbours> {
    check_matrix("data", data, n, d)?;
    check_k(n, k)?;
    let all: Vec<usize>;
    let queries = match queries {
        Some(q) => {
            if let Some(&bad) = q.iter().find(|&&i| i >= n) {
                return Err(GraphError::invalid("queries", bad, format!("must be < n = {n}")));
            }
            q
        }
        None => {
            all = (0..n).collect();
            &all
        }
    };
    let norms: Vec<f32> = data.par_chunks(d).map(|r| r.iter().map(|v| v * v).sum()).collect();
    let x = Tensor::from_slice(data, (n, d), &Device::Cpu)?;
    let xt = x.t()?;
    let cand = (k + RERANK_EXTRA).min(n - 1);
    let bs = block_rows(n);
    let batches = queries.len().div_ceil(bs);
    let mut indices = Vec::with_capacity(queries.len() * k);
    let mut distances = Vec::with_capacity(queries.len() * k);
    for (b, qs) in queries.chunks(bs).enumerate() {
        ctl.check_cancel()?;
        let mut qbuf = Vec::with_capacity(qs.len() * d);
        for &q in qs {
            qbuf.extend_from_slice(&data[q * d..(q + 1) * d]);
        }
        let qt = Tensor::from_vec(qbuf, (qs.len(), d), &Device::Cpu)?;
        let g = qt.matmul(&xt)?.contiguous()?;
        let (storage, layout) = g.storage_and_layout();
        let g: &[f32] = match (&*storage, layout.contiguous_offsets()) {
            (Storage::Cpu(cpu), Some((start, end))) => &cpu.as_slice::<f32>()?[start..end],
            _ => unreachable!("a contiguous CPU tensor"),
        };
        let rows: Vec<Vec<(f32, u32)>> = g
            .par_chunks(n)
            .zip(qs.par_iter())
            .map(|(grow, &q)| {
                let best = smallest(grow, &norms, q, cand);
                let qrow = &data[q * d..(q + 1) * d];
                let mut best: Vec<(f32, u32)> = best
                    .iter()
                    .map(|&(_, j)| {
                        let j_ = j as usize;
                        (sq_l2(qrow, &data[j_ * d..(j_ + 1) * d]), j)
                    })
                    .collect();
                best.sort_unstable_by(by_dist_then_id);
                best.truncate(k);
                best
            })
            .collect();
        drop(storage);
        for row in rows {
            for (dist, j) in row {
                indices.push(j);
                distances.push(dist.sqrt());
            }
        }
        ctl.report(&crate::control::Progress {
            phase: "knn",
            epoch: 0,
            epochs: 1,
            batch: b,
            batches,
            losses: &[],
        });
    }
    Ok(Neighbours { n: queries.len(), k, indices, distances })
}
