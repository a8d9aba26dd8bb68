//! Spectral initialisation: it recovers clusters from the graph alone, and its embedding spans the
//! leading eigenvectors (checked against the Rayleigh quotient of a block-indicator vector).

mod common;

use dgg_core::metrics::accuracy;
use dgg_core::spectral::{spectral_embedding, spectral_labels};
use dgg_graph::{knn, Graph, KnnMethod, Weighting};

fn blob_graph(k: usize) -> (Graph, Vec<u32>) {
    let (x, y) = common::blobs(40, 9, 11);
    let nb = knn(&x, 120, 9, k, &KnnMethod::Exact).unwrap();
    (Graph::from_neighbours(&nb, Weighting::Uniform).unwrap(), y)
}

#[test]
fn spectral_labels_recover_separated_clusters() {
    for k in [5, 10] {
        let (g, y) = blob_graph(k);
        let labels = spectral_labels(&g, 3, 10, 1);
        let p: Vec<i64> = labels.iter().map(|&v| v as i64).collect();
        let t: Vec<i64> = y.iter().map(|&v| v as i64).collect();
        assert_eq!(accuracy(&p, &t).unwrap(), 1.0, "k = {k}");
    }
}

#[test]
fn the_embedding_spans_the_cluster_indicators() {
    // With three disconnected blobs, D^1/2 times each blob's indicator is (nearly) in the span of
    // the three leading eigenvectors: projecting it on the orthonormal embedding keeps its norm.
    let (g, y) = blob_graph(10);
    let emb = spectral_embedding(&g, 3, 500, 3);
    for c in 0..3u32 {
        let v: Vec<f64> = y.iter().map(|&l| if l == c { 1.0 } else { 0.0 }).collect();
        let norm2: f64 = v.iter().map(|a| a * a).sum();
        let mut kept = 0.0;
        for j in 0..3 {
            let dot: f64 = (0..g.n).map(|i| v[i] * emb[i * 3 + j] as f64).sum();
            kept += dot * dot;
        }
        assert!(kept / norm2 > 0.95, "cluster {c}: only {} of the indicator is in the embedding", kept / norm2);
    }
}

/// The operator `spectral_embedding` diagonalises, built densely in f64 from its definition:
/// M = D^-1/2 (A + tau 11^T / n) D^-1/2, A = (W + W^T) / 2, D = deg(A) + tau.
fn dense_operator(g: &Graph) -> Vec<f64> {
    let n = g.n;
    let mut a = vec![0f64; n * n];
    for i in 0..n {
        for e in 0..g.k {
            let j = g.indices[i * g.k + e] as usize;
            let w = 0.5 * g.weights[i * g.k + e] as f64;
            a[i * n + j] += w;
            a[j * n + i] += w;
        }
    }
    let deg: Vec<f64> = (0..n).map(|i| a[i * n..(i + 1) * n].iter().sum()).collect();
    let tau = dgg_core::spectral::TAU_FRACTION as f64 * deg.iter().sum::<f64>() / n as f64;
    let s: Vec<f64> = deg.iter().map(|d| 1.0 / (d + tau).sqrt()).collect();
    let mut m = vec![0f64; n * n];
    for i in 0..n {
        for j in 0..n {
            m[i * n + j] = s[i] * s[j] * (a[i * n + j] + tau / n as f64);
        }
    }
    m
}

#[test]
fn embedding_columns_are_eigenvectors_in_descending_order_whatever_the_start() {
    // Overlapping blobs: a graph with crowded eigenvalues. After 60 operator products plain subspace
    // iteration still leaves the columns mixed; the Rayleigh-Ritz rotations must not.
    let (x, _) = common::blobs(30, 6, 2);
    let nb = knn(&x, 90, 6, 8, &KnnMethod::Exact).unwrap();
    let g = Graph::from_neighbours(&nb, Weighting::Uniform).unwrap();
    let (n, dims) = (g.n, 5);
    let m = dense_operator(&g);
    let mut columns = Vec::new();
    for seed in [1, 2] {
        let emb = spectral_embedding(&g, dims, 60, seed);
        let mut previous = f64::INFINITY;
        let mut cols = Vec::new();
        for c in 0..dims {
            let v: Vec<f64> = (0..n).map(|i| emb[i * dims + c] as f64).collect();
            let mv: Vec<f64> = (0..n).map(|i| (0..n).map(|j| m[i * n + j] * v[j]).sum()).collect();
            let lambda: f64 = v.iter().zip(&mv).map(|(a, b)| a * b).sum();
            let residual = v.iter().zip(&mv).map(|(a, b)| (b - lambda * a).powi(2)).sum::<f64>().sqrt();
            assert!(residual < 1e-4, "seed {seed}, column {c}: |Mv - lambda v| = {residual}");
            assert!(lambda <= previous + 1e-6, "seed {seed}: eigenvalues out of order");
            previous = lambda;
            cols.push(v);
        }
        columns.push(cols);
    }
    // Same vectors (up to sign) from both random starts.
    for c in 0..dims {
        let dot: f64 = columns[0][c].iter().zip(&columns[1][c]).map(|(a, b)| a * b).sum();
        assert!(dot.abs() > 0.999, "column {c}: |<v1, v2>| = {}", dot.abs());
    }
}

#[test]
fn near_ties_go_to_the_most_even_partition_and_clear_winners_stay() {
    use dgg_core::kmeans::KMeans;
    use dgg_core::spectral::choose_among_ties;
    let run = |inertia: f64, sizes: &[usize]| KMeans {
        centres: vec![],
        labels: sizes.iter().enumerate().flat_map(|(c, &s)| std::iter::repeat(c as u32).take(s)).collect(),
        inertia,
    };
    let uneven = run(100.0, &[50, 25, 25]);
    let even = run(100.3, &[34, 33, 33]);
    let far = run(101.0, &[34, 33, 33]);
    // Within 0.5% of the lowest: the even one wins.
    assert_eq!(choose_among_ties(vec![uneven.clone(), even.clone()], 3), even.labels);
    // Beyond it the lowest inertia stands, however even the other.
    assert_eq!(choose_among_ties(vec![uneven.clone(), far], 3), uneven.labels);
}
