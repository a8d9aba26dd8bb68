//! HNSW recall against exact search, parameter validation (before hnsw_rs can `exit`), cancellation.

mod common;

use common::{clustered, pendigits};
use dgg_graph::{exact_knn_queries, hnsw_knn, hnsw_knn_with_control, recall, Control, GraphError, HnswParams};
use std::sync::atomic::{AtomicBool, Ordering};

fn sample(n: usize, m: usize) -> Vec<usize> {
    (0..m).map(|i| i * n / m).collect()
}

#[test]
fn recall_on_clustered_data() {
    let (n, d, k) = (4000, 32, 10);
    let (x, _) = clustered(n, d, 20, 1.5, 7);
    let got = hnsw_knn(&x, n, d, k, &HnswParams::default()).unwrap();
    assert_eq!((got.n, got.k, got.indices.len()), (n, k, n * k));
    for i in 0..n {
        assert!(!got.row(i).contains(&(i as u32)), "row {i} holds itself");
        assert!(got.row_distances(i).windows(2).all(|w| w[0] <= w[1]), "row {i} unsorted");
    }
    let q = sample(n, 400);
    let exact = exact_knn_queries(&x, n, d, &q, k).unwrap();
    let r = recall(&got, &exact, &q).unwrap();
    assert!(r >= 0.95, "recall {r}");
    // Distances agree with the exact ones where the ids agree.
    let (i, j) = (q[3], 0);
    if got.row(i)[j] == exact.row(3)[j] {
        assert!((got.row_distances(i)[j] - exact.row_distances(3)[j]).abs() < 1e-4);
    }
}

#[test]
fn recall_on_pendigits() {
    let Some((x, _, n, d)) = pendigits() else {
        return;
    };
    let k = 20;
    let got = hnsw_knn(&x, n, d, k, &HnswParams::default()).unwrap();
    let q = sample(n, 500);
    let exact = exact_knn_queries(&x, n, d, &q, k).unwrap();
    let r = recall(&got, &exact, &q).unwrap();
    eprintln!("pendigits recall@{k}: {r:.4}");
    assert!(r >= 0.95, "recall {r}");
}

#[test]
fn bad_parameters_are_errors_not_exit() {
    let (x, _) = clustered(100, 4, 3, 1.0, 1);
    let run = |p: HnswParams, k| hnsw_knn(&x, 100, 4, k, &p).unwrap_err();
    let base = HnswParams::default();
    let e = run(HnswParams { max_connections: 300, ef_construction: 400, ..base.clone() }, 5);
    assert!(matches!(e, GraphError::InvalidParameter { field: "max_connections", .. }), "{e}");
    assert!(e.to_string().contains("max_connections = 300"), "{e}");
    let e = run(HnswParams { max_connections: 1, ..base.clone() }, 5);
    assert!(matches!(e, GraphError::InvalidParameter { field: "max_connections", .. }));
    let e = run(HnswParams { max_layers: 17, ..base.clone() }, 5);
    assert!(matches!(e, GraphError::InvalidParameter { field: "max_layers", .. }));
    let e = run(HnswParams { max_layers: 0, ..base.clone() }, 5);
    assert!(matches!(e, GraphError::InvalidParameter { field: "max_layers", .. }));
    let e = run(HnswParams { ef_search: 4, ..base.clone() }, 5);
    assert!(matches!(e, GraphError::InvalidParameter { field: "ef_search", .. }));
    let e = run(HnswParams { ef_construction: 10, ..base.clone() }, 5);
    assert!(matches!(e, GraphError::InvalidParameter { field: "ef_construction", .. }));
    let e = run(base.clone(), 100);
    assert!(matches!(e, GraphError::InvalidParameter { field: "ef_search", .. } | GraphError::InvalidParameter { field: "n", .. }));
    let e = run(HnswParams { ef_search: 200, ..base }, 100);
    assert!(matches!(e, GraphError::InvalidParameter { field: "n", .. }), "{e}");
}

#[test]
fn cancel_flag_stops_construction() {
    let (x, _) = clustered(2000, 8, 5, 1.0, 2);
    let flag = AtomicBool::new(true);
    let ctl = Control { progress: None, cancel: Some(&flag) };
    let e = hnsw_knn_with_control(&x, 2000, 8, 5, &HnswParams::default(), &ctl).unwrap_err();
    assert!(matches!(e, GraphError::Cancelled), "{e}");

    // Set from the progress callback after the first chunk: stops mid-way.
    let flag = AtomicBool::new(false);
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let cb = |_: &dgg_graph::Progress| {
        calls.fetch_add(1, Ordering::SeqCst);
        flag.store(true, Ordering::SeqCst);
    };
    let (x, _) = clustered(10_000, 8, 5, 1.0, 2);
    let ctl = Control { progress: Some(&cb), cancel: Some(&flag) };
    let e = hnsw_knn_with_control(&x, 10_000, 8, 5, &HnswParams::default(), &ctl).unwrap_err();
    assert!(matches!(e, GraphError::Cancelled), "{e}");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[test]
fn duplicates_and_tiny_inputs() {
    // 300 distinct points, each three times: the two copies come first, at distance 0.
    let (base, _) = clustered(300, 6, 4, 1.0, 9);
    let mut x = base.clone();
    x.extend_from_slice(&base);
    x.extend_from_slice(&base);
    let n = 900;
    let got = hnsw_knn(&x, n, 6, 4, &HnswParams::default()).unwrap();
    for i in 0..n {
        let mut first: Vec<u32> = got.row(i)[..2].to_vec();
        first.sort();
        let mut twins: Vec<u32> = (0..3).map(|c| (i % 300 + c * 300) as u32).filter(|&j| j != i as u32).collect();
        twins.sort();
        assert_eq!(first, twins, "row {i}");
        assert_eq!(got.row_distances(i)[..2], [0.0, 0.0]);
    }
    // n = k + 1: every other point is a neighbour.
    let (x, _) = clustered(6, 3, 2, 1.0, 1);
    let got = hnsw_knn(&x, 6, 3, 5, &HnswParams::default()).unwrap();
    for i in 0..6 {
        let mut r = got.row(i).to_vec();
        r.sort();
        assert_eq!(r, (0..6).filter(|&j| j != i as u32).collect::<Vec<_>>());
    }
}
