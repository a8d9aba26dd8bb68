//! Approximate kNN with hnsw_rs: parameter checks that run before hnsw_rs sees the values (it calls
//! `std::process::exit(1)` on some bad ones, which would kill the Node process), a parallel build
//! with `parallel_insert_slice`, then a search of every point's neighbours that starts from the
//! point itself on the index's bottom layer. The point is removed from its own list.
//!
//! Parallel insertion is **not deterministic**: the graph depends on thread interleaving, so two
//! runs can return slightly different neighbour lists. Use [`crate::exact::exact_knn`] when exact
//! reproducibility matters.

use crate::control::{Control, Progress};
use crate::error::{check_matrix, GraphError, Result};
use crate::knn::{by_dist_then_id, check_k, sq_l2, Neighbours};
use hnsw_rs::prelude::{Distance, Hnsw};
use rayon::prelude::*;

/// HNSW construction and search parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct HnswParams {
    /// Links per node and layer (layer 0 keeps twice as many). 2..=256.
    pub max_connections: usize,
    /// Candidate list width while inserting; at least `max_connections`.
    pub ef_construction: usize,
    /// Candidate list width while searching; at least `k` (raised to `k + 1` internally, since the
    /// point itself is found and dropped).
    pub ef_search: usize,
    /// Layer cap, 1..=16 (hnsw_rs's own limit).
    pub max_layers: usize,
}

impl Default for HnswParams {
    /// [`HnswParams::for_k`] with `k = 20`, the paper's neighbour count.
    fn default() -> Self {
        HnswParams::for_k(20)
    }
}

impl HnswParams {
    /// Defaults for a search of `k` neighbours, tuned on MNIST-70k (784-d, k = 20): recall@20
    /// 0.989, build + search about 50 s on two cores (ef_construction 100 gave 0.993 in 62 s).
    /// `ef_search = max(32, 1.5 k)`.
    pub fn for_k(k: usize) -> Self {
        HnswParams { max_connections: 16, ef_construction: 64, ef_search: (k + k / 2).max(32), max_layers: 16 }
    }

    /// Checks every parameter for a search of `k` neighbours among `n` points.
    pub fn validate(&self, n: usize, k: usize) -> Result<()> {
        if !(2..=256).contains(&self.max_connections) {
            return Err(GraphError::invalid("max_connections", self.max_connections, "must be in 2..=256"));
        }
        if !(1..=16).contains(&self.max_layers) {
            return Err(GraphError::invalid("max_layers", self.max_layers, "must be in 1..=16"));
        }
        if self.ef_construction < self.max_connections {
            return Err(GraphError::invalid("ef_construction", self.ef_construction, format!("must be >= max_connections = {}", self.max_connections)));
        }
        if self.ef_search < k {
            return Err(GraphError::invalid("ef_search", self.ef_search, format!("must be >= k = {k}")));
        }
        check_k(n, k)
    }
}

/// Euclidean distance with a vectorisable inner loop. hnsw_rs's `DistL2` for f32 is a sequential
/// scalar sum unless its `simdeez_f` feature is on; this gives the same distances about 8x faster.
#[derive(Debug, Default, Clone, Copy)]
pub struct FastL2;

impl Distance<f32> for FastL2 {
    fn eval(&self, va: &[f32], vb: &[f32]) -> f32 {
        sq_l2(va, vb).sqrt()
    }
}

/// Layer-0 links of the index as CSR (offsets, ids), by data id.
fn layer0_adjacency(hnsw: &Hnsw<f32, FastL2>, n: usize) -> (Vec<usize>, Vec<u32>) {
    let mut lists: Vec<Vec<u32>> = vec![Vec::new(); n];
    for point in hnsw.get_point_indexation() {
        let layers = point.get_neighborhood_id();
        if let Some(l0) = layers.first() {
            lists[point.get_origin_id()] = l0.iter().map(|nb| nb.d_id as u32).collect();
        }
    }
    let mut offsets = Vec::with_capacity(n + 1);
    offsets.push(0);
    let mut ids = Vec::new();
    for l in lists {
        ids.extend(l);
        offsets.push(ids.len());
    }
    (offsets, ids)
}

/// A (squared distance, id) pair ordered by distance then id, for the heaps below.
#[derive(Clone, Copy, PartialEq)]
struct Cand(f32, u32);
impl Eq for Cand {}
impl PartialOrd for Cand {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Cand {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        by_dist_then_id(&(self.0, self.1), &(o.0, o.1))
    }
}

/// HNSW's layer search with beam width `ef`, entered at point `i` itself; returns the `k` nearest
/// other points as (Euclidean distance, id), sorted. `seen` is a per-thread scratch array.
fn beam_from_self(data: &[f32], d: usize, (offsets, adj): &(Vec<usize>, Vec<u32>), i: usize, k: usize, ef: usize, seen: &mut [u32]) -> Vec<(f32, u32)> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let q = &data[i * d..(i + 1) * d];
    // `seen` holds the query id that last visited each point: no clearing between queries.
    let stamp = i as u32;
    seen[i] = stamp;
    let mut frontier = BinaryHeap::from([Reverse(Cand(0.0, i as u32))]);
    let mut best: BinaryHeap<Cand> = BinaryHeap::with_capacity(ef + 1);
    while let Some(Reverse(c)) = frontier.pop() {
        if best.len() >= ef && c.0 > best.peek().map_or(f32::INFINITY, |w| w.0) {
            break;
        }
        for &j in &adj[offsets[c.1 as usize]..offsets[c.1 as usize + 1]] {
            if seen[j as usize] == stamp {
                continue;
            }
            seen[j as usize] = stamp;
            let dj = sq_l2(q, &data[j as usize * d..(j as usize + 1) * d]);
            let cand = Cand(dj, j);
            if best.len() < ef || cand < *best.peek().unwrap() {
                frontier.push(Reverse(cand));
                best.push(cand);
                if best.len() > ef {
                    best.pop();
                }
            }
        }
    }
    let mut row: Vec<(f32, u32)> = best.into_iter().map(|c| (c.0, c.1)).collect();
    if row.len() < k {
        // Fewer than k points reachable (a tiny disconnected piece of the graph): scan them all.
        let n = data.len() / d;
        row = (0..n).filter(|&j| j != i).map(|j| (sq_l2(q, &data[j * d..(j + 1) * d]), j as u32)).collect();
    }
    row.sort_unstable_by(by_dist_then_id);
    row.truncate(k);
    row.iter_mut().for_each(|p| p.0 = p.0.sqrt());
    row
}

/// Points inserted (or searched) between progress reports and cancel checks.
const CHUNK: usize = 4096;

/// HNSW `k` nearest neighbours of every row of `data` (`n x d`).
pub fn hnsw_knn(data: &[f32], n: usize, d: usize, k: usize, p: &HnswParams) -> Result<Neighbours> {
    hnsw_knn_with_control(data, n, d, k, p, &Control::none())
}

/// [`hnsw_knn`] with progress (phase `"knn"`, one batch per chunk of 4096 points inserted, then
/// searched) and cancellation between chunks.
pub fn hnsw_knn_with_control(data: &[f32], n: usize, d: usize, k: usize, p: &HnswParams, ctl: &Control) -> Result<Neighbours> {
    p.validate(n, k)?;
    check_matrix("data", data, n, d)?;
    let hnsw = Hnsw::<f32, FastL2>::new(p.max_connections, n, p.max_layers, p.ef_construction, FastL2);
    let rows: Vec<(&[f32], usize)> = data.chunks_exact(d).zip(0..n).collect();
    let chunks = n.div_ceil(CHUNK);
    // 1-based, as every other phase reports.
    let report = |done| ctl.report(&Progress { phase: "knn", epoch: 1, epochs: 1, batch: done, batches: 2 * chunks, losses: &[] });
    for (c, part) in rows.chunks(CHUNK).enumerate() {
        ctl.check_cancel()?;
        hnsw.parallel_insert_slice(&part.to_vec());
        report(c + 1);
    }
    let adj = layer0_adjacency(&hnsw, n);
    drop(hnsw);
    // Every query is an indexed point, so the search starts at the point itself on layer 0
    // instead of descending from the top layer: same beam search, no entry-point error, and
    // flat arrays instead of hnsw_rs's locked, reference-counted nodes (several times faster).
    let ef = p.ef_search.max(k + 1);
    let ids: Vec<usize> = (0..n).collect();
    let mut out: Vec<Vec<(f32, u32)>> = Vec::with_capacity(n);
    for (c, part) in ids.chunks(CHUNK).enumerate() {
        ctl.check_cancel()?;
        let found: Vec<Vec<(f32, u32)>> = part.par_iter().map_init(|| vec![u32::MAX; n], |seen, &i| beam_from_self(data, d, &adj, i, k, ef, seen)).collect();
        out.extend(found);
        report(chunks + c + 1);
    }
    let mut indices = Vec::with_capacity(n * k);
    let mut distances = Vec::with_capacity(n * k);
    for row in out {
        for (dist, j) in row {
            indices.push(j);
            distances.push(dist);
        }
    }
    Ok(Neighbours { n, k, indices, distances })
}
