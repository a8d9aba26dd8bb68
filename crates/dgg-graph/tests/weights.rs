//! Graph weights: uniform and Gaussian rows, a hand-computed example, caller-supplied graphs,
//! the reverse (incoming-edge) CSR and purity.

mod common;

use common::clustered;
use dgg_graph::{exact_knn, Graph, GraphError, Neighbours, Weighting};

fn tiny() -> Neighbours {
    // 4 points on a line at 0, 1, 3, 6; k = 2.
    Neighbours { n: 4, k: 2, indices: vec![1, 2, 0, 2, 1, 0, 2, 1], distances: vec![1.0, 3.0, 1.0, 2.0, 2.0, 3.0, 3.0, 5.0] }
}

#[test]
fn uniform_rows_are_one_over_k() {
    let g = Graph::from_neighbours(&tiny(), Weighting::Uniform).unwrap();
    assert!(g.weights.iter().all(|&w| w == 0.5));
    assert_eq!(g.indices, tiny().indices);
}

#[test]
fn gaussian_matches_hand_computation() {
    let g = Graph::from_neighbours(&tiny(), Weighting::Gaussian { rank: 2 }).unwrap();
    // Row 0: s = 3, exponents -1/18 and -9/18.
    let (a, b) = ((-1.0f64 / 18.0).exp(), (-0.5f64).exp());
    assert!((g.row_weights(0)[0] as f64 - a / (a + b)).abs() < 1e-6);
    assert!((g.row_weights(0)[1] as f64 - b / (a + b)).abs() < 1e-6);
    // Row 3: s = 5, exponents -9/50 and -25/50.
    let (a, b) = ((-9.0f64 / 50.0).exp(), (-0.5f64).exp());
    assert!((g.row_weights(3)[0] as f64 - a / (a + b)).abs() < 1e-6);
    // rank 1: row 1 has s = 1, exponents -1/2 and -2.
    let g = Graph::from_neighbours(&tiny(), Weighting::Gaussian { rank: 1 }).unwrap();
    let (a, b) = ((-0.5f64).exp(), (-2.0f64).exp());
    assert!((g.row_weights(1)[1] as f64 - b / (a + b)).abs() < 1e-6);
}

#[test]
fn gaussian_rows_sum_to_one_and_decrease_with_distance() {
    let (n, d, k) = (400, 6, 15);
    let (x, _) = clustered(n, d, 4, 1.0, 3);
    let nb = exact_knn(&x, n, d, k).unwrap();
    let g = Graph::from_neighbours(&nb, Weighting::Gaussian { rank: 10 }).unwrap();
    for i in 0..n {
        let w = g.row_weights(i);
        let s: f32 = w.iter().sum();
        assert!((s - 1.0).abs() < 1e-5, "row {i} sums to {s}");
        assert!(w.windows(2).all(|p| p[0] >= p[1]), "row {i} not decreasing: {w:?}");
    }
    // Large distances: weights depend on the ratio to the window, nothing overflows.
    let far = Neighbours { n: 3, k: 2, indices: vec![1, 2, 0, 2, 0, 1], distances: vec![1e3, 1e3 + 1.0, 1e3, 2e3, 1e3 + 1.0, 2e3] };
    let g = Graph::from_neighbours(&far, Weighting::Gaussian { rank: 1 }).unwrap();
    assert!(g.weights.iter().all(|w| w.is_finite()));
    // Row 1: s = 1000, exponents -1/2 and -2: only the ratio to the window matters.
    let (a, b) = ((-0.5f64).exp(), (-2.0f64).exp());
    assert!((g.row_weights(1)[0] as f64 - a / (a + b)).abs() < 1e-6);
}

#[test]
fn duplicates_take_the_zero_window_limit() {
    let nb = Neighbours { n: 3, k: 2, indices: vec![1, 2, 0, 2, 0, 1], distances: vec![0.0, 0.0, 0.0, 0.0, 0.0, 0.0] };
    let g = Graph::from_neighbours(&nb, Weighting::Gaussian { rank: 1 }).unwrap();
    assert!(g.weights.iter().all(|&w| w == 0.5));
    let nb = Neighbours { n: 3, k: 2, indices: vec![1, 2, 0, 2, 0, 1], distances: vec![0.0, 1.0, 0.0, 2.0, 1.0, 2.0] };
    let g = Graph::from_neighbours(&nb, Weighting::Gaussian { rank: 1 }).unwrap();
    assert_eq!(g.row_weights(0), &[1.0, 0.0]);
}

#[test]
fn bad_rank_and_distances_are_errors() {
    let e = Graph::from_neighbours(&tiny(), Weighting::Gaussian { rank: 3 }).unwrap_err();
    assert!(matches!(e, GraphError::InvalidParameter { field: "rank", .. }), "{e}");
    assert!(Graph::from_neighbours(&tiny(), Weighting::Gaussian { rank: 0 }).is_err());
    let mut nb = tiny();
    nb.distances[2] = f32::NAN;
    let e = Graph::from_neighbours(&nb, Weighting::Gaussian { rank: 1 }).unwrap_err();
    assert!(matches!(e, GraphError::NonFinite { .. }), "{e}");
}

#[test]
fn from_parts_validates() {
    let ok = Graph::from_parts(3, 1, vec![1, 2, 0], vec![1.0; 3]);
    assert!(ok.is_ok());
    let err = |r: Result<Graph, GraphError>| r.unwrap_err().to_string();
    assert!(err(Graph::from_parts(3, 1, vec![1, 3, 0], vec![1.0; 3])).contains("indices = 3"));
    assert!(err(Graph::from_parts(3, 1, vec![1, 1, 0], vec![1.0; 3])).contains("itself"));
    assert!(err(Graph::from_parts(3, 1, vec![1, 2, 0], vec![1.0, 0.5, 1.0])).contains("row 1 must sum to 1"));
    assert!(err(Graph::from_parts(3, 1, vec![1, 2, 0], vec![1.0, f32::NAN, 1.0])).contains("finite"));
    assert!(err(Graph::from_parts(3, 2, vec![1, 2, 0], vec![1.0; 3])).contains("indices"));
    assert!(Graph::from_parts(3, 2, vec![1, 2, 0, 2, 0, 1], vec![1.5, -0.5, 0.5, 0.5, 0.5, 0.5]).is_err());
}

#[test]
fn reverse_csr_matches_forward_edges() {
    let (n, d, k) = (300, 5, 8);
    let (x, _) = clustered(n, d, 3, 1.0, 4);
    let g = Graph::from_neighbours(&exact_knn(&x, n, d, k).unwrap(), Weighting::Gaussian { rank: 5 }).unwrap();
    let r = g.reverse();
    assert_eq!(r.offsets.len(), n + 1);
    assert_eq!(r.offsets[n], n * k);
    let mut forward: Vec<(u32, u32, u32)> = Vec::new();
    for i in 0..n {
        for (&j, &w) in g.row(i).iter().zip(g.row_weights(i)) {
            forward.push((i as u32, j, w.to_bits()));
        }
    }
    let mut backward: Vec<(u32, u32, u32)> = Vec::new();
    for j in 0..n {
        for p in r.offsets[j]..r.offsets[j + 1] {
            backward.push((r.sources[p], j as u32, r.weights[p].to_bits()));
        }
    }
    forward.sort();
    backward.sort();
    assert_eq!(forward, backward);
    // The aggregate the engine needs: sum over incoming edges of w_ij f(i), with f(i) = i.
    let f = |i: u32| i as f64;
    for j in [0usize, 150, 299] {
        let via_rev: f64 = (r.offsets[j]..r.offsets[j + 1]).map(|p| r.weights[p] as f64 * f(r.sources[p])).sum();
        let direct: f64 = (0..n)
            .flat_map(|i| g.row(i).iter().zip(g.row_weights(i)).map(move |(&t, &w)| (i, t, w)))
            .filter(|&(_, t, _)| t as usize == j)
            .map(|(i, _, w)| w as f64 * f(i as u32))
            .sum();
        assert!((via_rev - direct).abs() < 1e-9);
    }
}

#[test]
fn purity_counts_matching_labels() {
    let g = Graph::from_neighbours(&tiny(), Weighting::Uniform).unwrap();
    // labels 0,0,1,1: row0 {1:0 ok, 2:1 no}, row1 {0 ok, 2 no}, row2 {1 no, 0 no}, row3 {2 ok, 1 no}
    assert_eq!(g.purity(&[0, 0, 1, 1]).unwrap(), 3.0 / 8.0);
    assert_eq!(tiny().purity(&[0, 0, 1, 1]).unwrap(), 3.0 / 8.0);
    assert!(g.purity(&[0, 0, 1]).is_err());
}

/// Modularity from its definition on the dense symmetrised matrix, in float64.
fn dense_modularity(g: &Graph, part: &[u32]) -> f64 {
    let n = g.n;
    let mut a = vec![0f64; n * n];
    for i in 0..n {
        for (&j, &w) in g.row(i).iter().zip(g.row_weights(i)) {
            a[i * n + j as usize] += 0.5 * w as f64;
            a[j as usize * n + i] += 0.5 * w as f64;
        }
    }
    let two_m: f64 = a.iter().sum();
    let deg: Vec<f64> = (0..n).map(|i| a[i * n..(i + 1) * n].iter().sum()).collect();
    let mut q = 0.0;
    for i in 0..n {
        for j in 0..n {
            if part[i] == part[j] {
                q += a[i * n + j] - deg[i] * deg[j] / two_m;
            }
        }
    }
    q / two_m
}

#[test]
fn modularity_matches_the_dense_definition() {
    // Two triangles joined by one edge, as a 2-NN graph with unequal weights.
    let g = Graph::from_parts(6, 2, vec![1, 2, 0, 2, 0, 3, 2, 4, 3, 5, 3, 4], vec![0.5, 0.5, 0.7, 0.3, 0.4, 0.6, 0.1, 0.9, 0.5, 0.5, 0.2, 0.8]).unwrap();
    for part in [vec![0, 0, 0, 1, 1, 1], vec![0, 1, 0, 1, 0, 1], vec![0, 0, 0, 0, 0, 0], vec![2, 2, 0, 1, 1, 1]] {
        let got = g.modularity(&part).unwrap();
        let want = dense_modularity(&g, &part);
        assert!((got - want).abs() < 1e-9, "{part:?}: {got} vs {want}");
    }
    // One cluster scores 0; the split along the bridge beats an alternating one.
    assert!(g.modularity(&[0; 6]).unwrap().abs() < 1e-12);
    assert!(g.modularity(&[0, 0, 0, 1, 1, 1]).unwrap() > 0.3);
    assert!(g.modularity(&[0, 1, 0, 1, 0, 1]).unwrap() < 0.0);
    assert!(g.modularity(&[0, 1]).is_err());
}
