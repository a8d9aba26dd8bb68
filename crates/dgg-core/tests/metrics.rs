//! Metrics on hand-made cases with values worked out by hand (and matching scikit-learn's).

use dgg_core::metrics::{accuracy, ari, hungarian, nmi};

#[test]
fn permuted_labels_score_one() {
    let truth = [0, 0, 1, 1, 2, 2, 2];
    let pred = [5, 5, 3, 3, 9, 9, 9];
    assert_eq!(accuracy(&pred, &truth).unwrap(), 1.0);
    assert!((nmi(&pred, &truth).unwrap() - 1.0).abs() < 1e-12);
    assert!((ari(&pred, &truth).unwrap() - 1.0).abs() < 1e-12);
}

#[test]
fn accuracy_uses_one_to_one_matching() {
    // Clusters {0,1,2 -> a}, {3,4 -> b}, {5 -> c}; truth 0,0,1,1,1,1: best matching a->0 (2), b->1 (2), c->none-or-1.
    let truth = [0, 0, 1, 1, 1, 1];
    let pred = [0, 0, 0, 1, 1, 2];
    // a->0 gives 2, b->1 gives 2, c unmatched (only two classes): 4/6.
    assert!((accuracy(&pred, &truth).unwrap() - 4.0 / 6.0).abs() < 1e-12);
}

#[test]
fn nmi_and_ari_known_values() {
    // scikit-learn: normalized_mutual_info_score([0,0,1,1],[0,0,1,2]) = 0.8, adjusted_rand_score = 0.5714285714.
    let truth = [0, 0, 1, 1];
    let pred = [0, 0, 1, 2];
    assert!((nmi(&pred, &truth).unwrap() - 0.8).abs() < 1e-9);
    assert!((ari(&pred, &truth).unwrap() - 4.0 / 7.0).abs() < 1e-9);
    // Independent labelings: ARI below zero here (sklearn gives -0.5), NMI 0.
    let a = [0, 0, 1, 1];
    let b = [0, 1, 0, 1];
    assert!((ari(&a, &b).unwrap() + 0.5).abs() < 1e-9);
    assert!(nmi(&a, &b).unwrap().abs() < 1e-12);
}

#[test]
fn hungarian_finds_minimum_cost() {
    let cost = vec![vec![4.0, 1.0, 3.0], vec![2.0, 0.0, 5.0], vec![3.0, 2.0, 2.0]];
    let a = hungarian(&cost);
    let total: f64 = a.iter().enumerate().map(|(i, &j)| cost[i][j]).sum();
    assert_eq!(total, 5.0); // 1 + 2 + 2
    let mut cols = a.clone();
    cols.sort();
    assert_eq!(cols, vec![0, 1, 2]);
}

#[test]
fn mismatched_lengths_are_an_error() {
    let e = accuracy(&[0, 1], &[0]).unwrap_err();
    assert_eq!(e.code(), "INVALID_DATA");
    assert!(e.to_string().contains("2 entries"));
}
