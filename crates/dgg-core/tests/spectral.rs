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
