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
    y.par_chunks_mut(b * ROWS_PER_TASK).enumerate().for_each(|(chunk, ys)| {
        let mut acc = vec![0f32; b];
        for (r, yi) in ys.chunks_exact_mut(b).enumerate() {
            let i = chunk * ROWS_PER_TASK + r;
            acc.iter_mut().for_each(|a| *a = 0.0);
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
            for ((yv, a), c) in yi.iter_mut().zip(&acc).zip(&col) {
                *yv = inv_sqrt_deg[i] * (a + c);
            }
        }
    });
    y
}

/// Orthonormalises the b columns of x (N x b, row-major): CholeskyQR2 in f64, or modified
/// Gram-Schmidt in f64 when the block is too ill-conditioned for it.
pub fn orthonormalise(x: &mut [f32], b: usize) {
    // CholeskyQR2: X <- X R^-1 with X^T X = R^T R, twice (the second pass restores the
    // orthogonality the first loses to rounding). Row-parallel and cache-friendly where Gram-Schmidt
    // walks columns of a row-major block; Gram-Schmidt remains for a block too ill-conditioned for
    // a Cholesky factor.
    for _ in 0..2 {
        if !cholesky_qr(x, b) {
            // Twice: on a nearly dependent block one pass leaves the rounding of its
            // cancellations in (stored in f32), which is not orthogonal to the earlier columns.
            gram_schmidt(x, b);
            gram_schmidt(x, b);
            return;
        }
    }
}

/// Rows per parallel task in the block products (enough work per task to hide rayon's overhead).
const ROWS_PER_TASK: usize = 512;

/// X^T Y (b x b, row-major, f64) for two row-major N x b blocks.
fn cross(x: &[f32], y: &[f32], b: usize) -> Vec<f64> {
    x.par_chunks(b * ROWS_PER_TASK)
        .zip(y.par_chunks(b * ROWS_PER_TASK))
        .fold(
            || vec![0f64; b * b],
            |mut h, (xc, yc)| {
                let mut yr64 = vec![0f64; b];
                for (xr, yr) in xc.chunks_exact(b).zip(yc.chunks_exact(b)) {
                    yr64.iter_mut().zip(yr).for_each(|(o, &v)| *o = v as f64);
                    for (i, &xi) in xr.iter().enumerate() {
                        let xi = xi as f64;
                        for (hv, yv) in h[i * b..(i + 1) * b].iter_mut().zip(&yr64) {
                            *hv += xi * yv;
                        }
                    }
                }
                h
            },
        )
        .reduce(
            || vec![0f64; b * b],
            |mut a, c| {
                a.iter_mut().zip(c).for_each(|(u, v)| *u += v);
                a
            },
        )
}

/// One CholeskyQR pass; false (x untouched) when X^T X has no usable Cholesky factor.
fn cholesky_qr(x: &mut [f32], b: usize) -> bool {
    let g = cross(x, x, b);
    // G = L L^T, L lower triangular (row-major).
    let mut l = vec![0f64; b * b];
    let scale = (0..b).map(|i| g[i * b + i]).fold(0.0, f64::max);
    for j in 0..b {
        let diag = g[j * b + j] - (0..j).map(|k| l[j * b + k] * l[j * b + k]).sum::<f64>();
        if diag.is_nan() || diag <= 1e-13 * scale {
            return false;
        }
        let ljj = diag.sqrt();
        l[j * b + j] = ljj;
        for i in j + 1..b {
            let v = g[i * b + j] - (0..j).map(|k| l[i * b + k] * l[j * b + k]).sum::<f64>();
            l[i * b + j] = v / ljj;
        }
    }
    // Each row r becomes r L^-T: forward substitution, q_j = (r_j - sum_{i<j} q_i L_ji) / L_jj.
    x.par_chunks_mut(b * ROWS_PER_TASK).for_each(|chunk| {
        let mut q = vec![0f64; b];
        for row in chunk.chunks_exact_mut(b) {
            for j in 0..b {
                let acc: f64 = (0..j).map(|i| q[i] * l[j * b + i]).sum();
                q[j] = (row[j] as f64 - acc) / l[j * b + j];
            }
            row.iter_mut().zip(&q).for_each(|(o, &v)| *o = v as f32);
        }
    });
    true
}

/// Modified Gram-Schmidt over the columns, in f64 (the fallback of [`orthonormalise`]).
fn gram_schmidt(x: &mut [f32], b: usize) {
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

/// Eigen-decomposition of a small symmetric matrix (row-major b x b) in f64: Householder
/// reduction to tridiagonal form, then the implicit QL algorithm (EISPACK's tred2 and tql2, as
/// JAMA writes them). Returns (eigenvalues, eigenvectors as the columns of a row-major b x b
/// matrix), unsorted. About 10 b^3 operations, where cyclic Jacobi took several times that.
fn symmetric_eigen(a: Vec<f64>, n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut v = a;
    let mut d = vec![0f64; n];
    let mut e = vec![0f64; n];
    if n == 0 {
        return (d, v);
    }
    let at = |i: usize, j: usize| i * n + j;
    // tred2: v becomes the orthogonal transformation, d and e the tridiagonal matrix.
    for j in 0..n {
        d[j] = v[at(n - 1, j)];
    }
    for i in (1..n).rev() {
        let scale: f64 = d[..i].iter().map(|x| x.abs()).sum();
        let mut h = 0.0;
        if scale == 0.0 {
            e[i] = d[i - 1];
            for j in 0..i {
                d[j] = v[at(i - 1, j)];
                v[at(i, j)] = 0.0;
                v[at(j, i)] = 0.0;
            }
        } else {
            for dk in d[..i].iter_mut() {
                *dk /= scale;
                h += *dk * *dk;
            }
            let f = d[i - 1];
            let g = if f > 0.0 { -h.sqrt() } else { h.sqrt() };
            e[i] = scale * g;
            h -= f * g;
            d[i - 1] = f - g;
            e[..i].iter_mut().for_each(|x| *x = 0.0);
            for j in 0..i {
                let f = d[j];
                v[at(j, i)] = f;
                let mut g = e[j] + v[at(j, j)] * f;
                for k in j + 1..i {
                    g += v[at(k, j)] * d[k];
                    e[k] += v[at(k, j)] * f;
                }
                e[j] = g;
            }
            let mut f = 0.0;
            for j in 0..i {
                e[j] /= h;
                f += e[j] * d[j];
            }
            let hh = f / (h + h);
            for j in 0..i {
                e[j] -= hh * d[j];
            }
            for j in 0..i {
                let (f, g) = (d[j], e[j]);
                for k in j..i {
                    v[at(k, j)] -= f * e[k] + g * d[k];
                }
                d[j] = v[at(i - 1, j)];
                v[at(i, j)] = 0.0;
            }
        }
        d[i] = h;
    }
    for i in 0..n - 1 {
        v[at(n - 1, i)] = v[at(i, i)];
        v[at(i, i)] = 1.0;
        let h = d[i + 1];
        if h != 0.0 {
            for k in 0..=i {
                d[k] = v[at(k, i + 1)] / h;
            }
            for j in 0..=i {
                let g: f64 = (0..=i).map(|k| v[at(k, i + 1)] * v[at(k, j)]).sum();
                for k in 0..=i {
                    v[at(k, j)] -= g * d[k];
                }
            }
        }
        for k in 0..=i {
            v[at(k, i + 1)] = 0.0;
        }
    }
    for j in 0..n {
        d[j] = v[at(n - 1, j)];
        v[at(n - 1, j)] = 0.0;
    }
    v[at(n - 1, n - 1)] = 1.0;
    e[0] = 0.0;
    // tql2: diagonalise the tridiagonal matrix, accumulating the rotations into v.
    for i in 1..n {
        e[i - 1] = e[i];
    }
    e[n - 1] = 0.0;
    let (mut f, mut tst1) = (0.0f64, 0.0f64);
    let eps = f64::EPSILON;
    for l in 0..n {
        tst1 = tst1.max(d[l].abs() + e[l].abs());
        let mut m = l;
        while m < n - 1 && e[m].abs() > eps * tst1 {
            m += 1;
        }
        if m > l {
            for _iteration in 0..64 {
                let g = d[l];
                let p = (d[l + 1] - g) / (2.0 * e[l]);
                let r = if p < 0.0 { -p.hypot(1.0) } else { p.hypot(1.0) };
                d[l] = e[l] / (p + r);
                d[l + 1] = e[l] * (p + r);
                let dl1 = d[l + 1];
                let h = g - d[l];
                for di in d[l + 2..].iter_mut() {
                    *di -= h;
                }
                f += h;
                let mut p = d[m];
                let (mut c, mut c2, mut c3) = (1.0f64, 1.0f64, 1.0f64);
                let el1 = e[l + 1];
                let (mut s, mut s2) = (0.0f64, 0.0f64);
                for i in (l..m).rev() {
                    c3 = c2;
                    c2 = c;
                    s2 = s;
                    let g = c * e[i];
                    let h = c * p;
                    let r = p.hypot(e[i]);
                    e[i + 1] = s * r;
                    s = e[i] / r;
                    c = p / r;
                    p = c * d[i] - s * g;
                    d[i + 1] = h + s * (c * g + s * d[i]);
                    for k in 0..n {
                        let h = v[at(k, i + 1)];
                        v[at(k, i + 1)] = s * v[at(k, i)] + c * h;
                        v[at(k, i)] = c * v[at(k, i)] - s * h;
                    }
                }
                p = -s * s2 * c3 * el1 * e[l] / dl1;
                e[l] = s * p;
                d[l] = c * p;
                if e[l].abs() <= eps * tst1 {
                    break;
                }
            }
        }
        d[l] += f;
        e[l] = 0.0;
    }
    (d, v)
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
    let mut h = cross(x, y, b);
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
    x.par_chunks_mut(b * ROWS_PER_TASK).for_each(|chunk| {
        let mut out = vec![0f64; b];
        for row in chunk.chunks_exact_mut(b) {
            out.iter_mut().for_each(|o| *o = 0.0);
            for (k, &v) in row.iter().enumerate() {
                let v = v as f64;
                for (o, rv) in out.iter_mut().zip(&r[k * b..(k + 1) * b]) {
                    *o += v * rv;
                }
            }
            row.iter_mut().zip(&out).for_each(|(o, &v)| *o = v as f32);
        }
    });
}

/// Degree of the Chebyshev filter: each outer step applies the operator this many times.
const FILTER_DEGREE: usize = 8;
/// Stop once every wanted Ritz pair has |S v - theta v| below this (f32 arithmetic floors near 1e-6).
const RESIDUAL_TOLERANCE: f64 = 1e-5;
/// Also stop once the residual is below this and one filter step has not cut it by [`STALL_RATIO`]:
/// it has reached the float32 floor. On MNIST's 70k-row graph that floor is 3e-6 to 1.5e-5 from one
/// run to the next (the HNSW graph and the parallel sums vary); above the tolerance, the iteration
/// used to run all 2,000 products, 117 s instead of 5 s, for no better partition. While converging,
/// one step cuts the residual 5-80 fold.
const STALL_BELOW: f64 = 1e-3;
/// See [`STALL_BELOW`].
const STALL_RATIO: f64 = 0.5;

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
    let (x, values, _) = subspace_iteration(graph, dims, applications, seed, RESIDUAL_TOLERANCE);
    (x, values)
}

/// The iteration behind [`spectral_eigen`], which also returns how many operator products it used.
/// It stops when every wanted residual is below `tolerance`, or once the residual has stalled
/// (see [`STALL_BELOW`]), or when `applications` would be exceeded.
fn subspace_iteration(graph: &Graph, dims: usize, applications: usize, seed: u64, tolerance: f64) -> (Vec<f32>, Vec<f64>, usize) {
    let n = graph.n;
    let reverse = graph.reverse();
    let mut degree = vec![0.5f32; n]; // outgoing weights sum to 1, halved
    for (i, d) in degree.iter_mut().enumerate() {
        *d += 0.5 * reverse.weights[reverse.offsets[i]..reverse.offsets[i + 1]].iter().sum::<f32>();
    }
    let tau = TAU_FRACTION * degree.iter().sum::<f32>() / n as f32;
    let inv_sqrt_deg: Vec<f32> = degree.iter().map(|d| 1.0 / (d + tau).sqrt()).collect();
    let op = |x: &[f32], b: usize| apply(graph, &reverse, &inv_sqrt_deg, tau, x, b);
    // Extra vectors speed up convergence of the wanted ones.
    let b = (2 * dims + 5).min(n);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut x: Vec<f32> = (0..n * b).map(|_| StandardNormal.sample(&mut rng)).collect();
    orthonormalise(&mut x, b);
    let mut used = 0;
    let mut previous_residual = f64::INFINITY;
    let values = loop {
        // Ritz pairs of the current block, with y = S x rotated alongside x.
        let mut y = op(&x, b);
        used += 1;
        let (theta, rotation) = ritz(&x, &y, b);
        rotate(&mut x, &rotation, b);
        rotate(&mut y, &rotation, b);
        let residual = (0..dims.min(b))
            .map(|c| x.chunks_exact(b).zip(y.chunks_exact(b)).map(|(xr, yr)| (yr[c] as f64 - theta[c] * xr[c] as f64).powi(2)).sum::<f64>().sqrt())
            .fold(0.0, f64::max);
        let stalled = residual < STALL_BELOW && residual > STALL_RATIO * previous_residual;
        if residual < tolerance || stalled || used + FILTER_DEGREE > applications || b == n {
            break theta;
        }
        previous_residual = residual;
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
    (x.chunks_exact(b).flat_map(|row| row[..dims].to_vec()).collect(), values, used)
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

#[cfg(test)]
mod tests {
    use super::{orthonormalise, subspace_iteration, symmetric_eigen, RESIDUAL_TOLERANCE};
    use dgg_graph::Graph;
    use rand::{Rng, SeedableRng};

    /// A ring of `blocks` cliques joined by single edges: `blocks` leading eigenvectors, well separated.
    fn ring_of_cliques(blocks: usize, size: usize) -> Graph {
        let n = blocks * size;
        let k = size - 1;
        let mut indices = Vec::with_capacity(n * k);
        for i in 0..n {
            let (block, pos) = (i / size, i % size);
            let mut row: Vec<u32> = (0..size).filter(|&p| p != pos).map(|p| (block * size + p) as u32).collect();
            if pos == 0 {
                row[0] = (((block + 1) % blocks) * size + 1) as u32; // one edge to the next clique
            }
            indices.extend(row);
        }
        Graph::from_parts(n, k, indices, vec![1.0 / k as f32; n * k]).unwrap()
    }

    /// With a tolerance below what float32 can reach, the iteration stops once the residual
    /// stalls instead of running every allowed product, and its vectors are as good as those of a
    /// run that met the normal tolerance.
    #[test]
    fn subspace_iteration_stops_when_the_residual_stalls() {
        let g = ring_of_cliques(12, 40);
        let (x_ok, values_ok, used_ok) = subspace_iteration(&g, 12, 2000, 7, RESIDUAL_TOLERANCE);
        let (x, values, used) = subspace_iteration(&g, 12, 2000, 7, 0.0);
        assert!(used < 200, "an unreachable tolerance used {used} of 2000 products (the normal one {used_ok})");
        for c in 0..12 {
            assert!((values[c] - values_ok[c]).abs() < 1e-5, "eigenvalue {c}: {} vs {}", values[c], values_ok[c]);
        }
        // The same leading subspace: the projection of one block's columns onto the other's.
        let (n, dims) = (g.n, 12);
        for c in 0..dims {
            let norm2: f64 = (0..dims).map(|j| (0..n).map(|r| x[r * dims + c] as f64 * x_ok[r * dims + j] as f64).sum::<f64>().powi(2)).sum();
            assert!((norm2 - 1.0).abs() < 1e-3, "column {c}: squared projection {norm2}");
        }
    }

    /// A V = V diag(values) and V^T V = I on random symmetric matrices (a clustered spectrum
    /// included), and the eigenvalues of [[2, 1], [1, 2]] by hand: 1 and 3.
    #[test]
    fn symmetric_eigen_decomposes() {
        let (values, _) = symmetric_eigen(vec![2.0, 1.0, 1.0, 2.0], 2);
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        assert!((sorted[0] - 1.0).abs() < 1e-14 && (sorted[1] - 3.0).abs() < 1e-14, "{values:?}");
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for &(n, clustered) in &[(1usize, false), (7, false), (60, false), (60, true)] {
            let mut a = vec![0f64; n * n];
            for i in 0..n {
                for j in 0..=i {
                    let x: f64 = rng.gen_range(-1.0..1.0);
                    a[i * n + j] = x;
                    a[j * n + i] = x;
                }
                if clustered {
                    // Many eigenvalues near 1, as on a kNN graph's normalised affinity.
                    a[i * n + i] += 50.0;
                }
            }
            let (values, v) = symmetric_eigen(a.clone(), n);
            for i in 0..n {
                for c in 0..n {
                    let av: f64 = (0..n).map(|k| a[i * n + k] * v[k * n + c]).sum();
                    assert!((av - values[c] * v[i * n + c]).abs() < 1e-10, "n {n}: (A v - l v)[{i}][{c}] = {}", av - values[c] * v[i * n + c]);
                    let vtv: f64 = (0..n).map(|k| v[k * n + i] * v[k * n + c]).sum();
                    assert!((vtv - if i == c { 1.0 } else { 0.0 }).abs() < 1e-12, "n {n}: V^T V [{i}][{c}] = {vtv}");
                }
            }
        }
    }

    /// The block comes out orthonormal and spanning what it spanned before, in float64 terms: on
    /// a well-conditioned block (CholeskyQR2) and on one with two nearly equal columns (too
    /// ill-conditioned for a Cholesky factor: the Gram-Schmidt fallback).
    #[test]
    fn orthonormalise_keeps_the_span() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let (n, b) = (3000usize, 9usize);
        for nearly_dependent in [false, true] {
            let mut x: Vec<f32> = (0..n * b).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
            if nearly_dependent {
                for i in 0..n {
                    x[i * b + 1] = x[i * b] * (1.0 + 1e-7 * (i % 3) as f32);
                }
            }
            let before: Vec<f64> = x.iter().map(|&v| v as f64).collect();
            orthonormalise(&mut x, b);
            let q: Vec<f64> = x.iter().map(|&v| v as f64).collect();
            for i in 0..b {
                for j in 0..b {
                    let dot: f64 = (0..n).map(|r| q[r * b + i] * q[r * b + j]).sum();
                    let want = if i == j { 1.0 } else { 0.0 };
                    assert!((dot - want).abs() < 1e-4, "dependent {nearly_dependent}: Q^T Q [{i}][{j}] = {dot}");
                }
            }
            if nearly_dependent {
                continue; // the second column's direction is rounding noise
            }
            // Each old column minus its projection on the new span is ~0.
            for c in 0..b {
                let coef: Vec<f64> = (0..b).map(|j| (0..n).map(|r| q[r * b + j] * before[r * b + c]).sum()).collect();
                let resid: f64 = (0..n).map(|r| (before[r * b + c] - (0..b).map(|j| coef[j] * q[r * b + j]).sum::<f64>()).powi(2)).sum::<f64>().sqrt();
                let norm: f64 = (0..n).map(|r| before[r * b + c].powi(2)).sum::<f64>().sqrt();
                assert!(resid < 1e-5 * norm, "column {c}: residual {resid} of {norm}");
            }
        }
    }
}
