//! Exact kNN by blocked GEMM: `||q||^2 + ||x||^2 - 2 q.x` for a block of queries against all
//! points (candle matmul on the CPU), a scan that keeps the few smallest per row, then an exact
//! re-ranking by direct differences. Deterministic: ties go to the smaller id.

use crate::control::{Control, Progress};
use crate::error::{check_matrix, GraphError, Result};
use crate::knn::{by_dist_then_id, check_k, sq_l2, Neighbours};
use candle_core::{Device, Storage, Tensor};
use rayon::prelude::*;

/// Exact `k` nearest neighbours of every point.
pub fn exact_knn(data: &[f32], n: usize, d: usize, k: usize) -> Result<Neighbours> {
    exact_search(data, n, d, None, k, &Control::none())
}

/// Exact neighbours of the points `queries` only (for recall on a sample); row `r` of the result
/// belongs to point `queries[r]`, and `result.n == queries.len()`.
pub fn exact_knn_queries(data: &[f32], n: usize, d: usize, queries: &[usize], k: usize) -> Result<Neighbours> {
    exact_search(data, n, d, Some(queries), k, &Control::none())
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

pub(crate) fn exact_search(data: &[f32], n: usize, d: usize, queries: Option<&[usize]>, k: usize, ctl: &Control) -> Result<Neighbours> {
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
        ctl.report(&Progress { phase: "knn", epoch: 1, epochs: 1, batch: b + 1, batches, losses: &[] });
    }
    Ok(Neighbours { n: queries.len(), k, indices, distances })
}
