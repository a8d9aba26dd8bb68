//! Exact kNN against a brute-force f64 loop, determinism, query subsets, recall and errors.

mod common;

use common::{brute_force, clustered, uniform};
use dgg_graph::{exact_knn, exact_knn_queries, knn, recall, GraphError, KnnMethod, Neighbours};

#[test]
fn exact_matches_brute_force_f64() {
    let (n, d, k) = (700, 13, 7);
    let x = uniform(n, d, 1);
    let got = exact_knn(&x, n, d, k).unwrap();
    let want = brute_force(&x, n, d, k);
    assert_eq!((got.n, got.k), (n, k));
    for (i, want_i) in want.iter().enumerate() {
        let ids: Vec<u32> = want_i.iter().map(|p| p.1).collect();
        assert_eq!(got.row(i), ids.as_slice(), "row {i}");
        for (g, w) in got.row_distances(i).iter().zip(want_i) {
            // Stored distances are Euclidean, not squared.
            assert!((*g as f64 - w.0.sqrt()).abs() < 1e-5, "row {i}: {g} vs {}", w.0.sqrt());
        }
        assert!(!got.row(i).contains(&(i as u32)), "row {i} holds itself");
    }
}

#[test]
fn exact_blocks_over_several_gemm_blocks_and_ties_are_deterministic() {
    // Duplicated points give exact distance ties; ids must come out in increasing order.
    let (n0, d, k) = (1500, 4, 5);
    let base = uniform(n0, d, 2);
    let mut x = base.clone();
    x.extend_from_slice(&base); // point i and i + n0 coincide
    let n = 2 * n0;
    let a = exact_knn(&x, n, d, k).unwrap();
    let b = exact_knn(&x, n, d, k).unwrap();
    assert_eq!(a, b, "two runs differ");
    for i in 0..n0 {
        assert_eq!(a.row(i)[0] as usize, i + n0);
        assert_eq!(a.row(i + n0)[0] as usize, i);
        assert_eq!(a.row_distances(i)[0], 0.0);
        // each row sorted by (distance, id)
        for t in 1..k {
            let (d0, d1) = (a.row_distances(i)[t - 1], a.row_distances(i)[t]);
            assert!(d0 < d1 || (d0 == d1 && a.row(i)[t - 1] < a.row(i)[t]));
        }
    }
}

#[test]
fn query_subset_equals_rows_of_full_search() {
    let (n, d, k) = (500, 8, 6);
    let (x, _) = clustered(n, d, 5, 1.0, 3);
    let full = exact_knn(&x, n, d, k).unwrap();
    let q = [0usize, 17, 499, 250];
    let part = exact_knn_queries(&x, n, d, &q, k).unwrap();
    assert_eq!(part.n, q.len());
    for (r, &i) in q.iter().enumerate() {
        assert_eq!(part.row(r), full.row(i));
    }
    assert_eq!(recall(&full, &part, &q).unwrap(), 1.0);
}

#[test]
fn recall_counts_overlap() {
    let approx = Neighbours { n: 2, k: 2, indices: vec![1, 0, 0, 1], distances: vec![0.0; 4] };
    let exact = Neighbours { n: 2, k: 2, indices: vec![1, 2, 3, 2], distances: vec![0.0; 4] };
    // row 0: {1} of {1,2}; row 1: none of {3,2}
    assert_eq!(recall(&approx, &exact, &[0, 1]).unwrap(), 0.25);
}

#[test]
fn auto_threshold_follows_the_cost_model() {
    use dgg_graph::auto_prefers_exact;
    assert!(auto_prefers_exact(20_000, 784));
    assert!(!auto_prefers_exact(40_000, 784), "MNIST-size raw data goes to HNSW");
    assert!(auto_prefers_exact(70_000, 10), "MNIST in a 10-d embedding is searched exactly");
    assert!(!auto_prefers_exact(200_000, 10));
}

#[test]
fn auto_on_small_data_is_exact() {
    let (n, d, k) = (300, 5, 4);
    let x = uniform(n, d, 4);
    assert_eq!(knn(&x, n, d, k, &KnnMethod::Auto).unwrap(), exact_knn(&x, n, d, k).unwrap());
}

#[test]
fn bad_inputs_are_errors() {
    let x = uniform(10, 3, 5);
    assert!(matches!(exact_knn(&x, 10, 3, 0), Err(GraphError::InvalidParameter { field: "k", .. })));
    assert!(matches!(exact_knn(&x, 10, 3, 10), Err(GraphError::InvalidParameter { field: "n", .. })));
    assert!(matches!(exact_knn(&x, 11, 3, 2), Err(GraphError::Shape { field: "data", .. })));
    let mut y = x.clone();
    y[7] = f32::NAN;
    let e = exact_knn(&y, 10, 3, 2).unwrap_err();
    assert!(matches!(e, GraphError::NonFinite { index: 7, .. }), "{e}");
    assert!(exact_knn_queries(&x, 10, 3, &[10], 2).is_err());
    let e = exact_knn(&x, 10, 3, 10).unwrap_err().to_string();
    assert!(e.contains("n = 10"), "{e}");
}
