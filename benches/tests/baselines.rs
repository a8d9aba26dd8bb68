//! The baselines are checked against what they must recover: PCA the known axes and variances of
//! a rotated Gaussian cloud, the diagonal GMM well separated blobs.

use dgg_benches::baselines::{gmm_diag, pca};
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};

#[test]
fn pca_recovers_the_variances_of_a_rotated_cloud() {
    let (n, d) = (4000, 6);
    let sd = [5.0, 3.0, 2.0, 0.5, 0.3, 0.1];
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    // A rotation: the Householder reflection about v = (1, 1, ..., 1) / sqrt(d).
    let h = |i: usize, j: usize| if i == j { 1.0 - 2.0 / d as f64 } else { -2.0 / d as f64 };
    let mut x = vec![0f32; n * d];
    for i in 0..n {
        let z: Vec<f64> = sd.iter().map(|&s| Normal::new(0.0, s).unwrap().sample(&mut rng)).collect();
        for r in 0..d {
            x[i * d + r] = ((0..d).map(|c| h(r, c) * z[c]).sum::<f64>() + 10.0) as f32;
        }
    }
    let p = pca(&x, n, d, 3);
    for (c, s) in sd[..3].iter().enumerate() {
        let var = (0..n).map(|i| (p[i * 3 + c] as f64).powi(2)).sum::<f64>() / n as f64;
        assert!((var.sqrt() / s - 1.0).abs() < 0.05, "axis {c}: sd {} expected {s}", var.sqrt());
    }
}

#[test]
fn gmm_separates_blobs() {
    let (per, d, k) = (60, 4, 3);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let noise = Normal::new(0.0, 0.3).unwrap();
    let mut x = Vec::new();
    for c in 0..k {
        for _ in 0..per {
            x.extend((0..d).map(|j| (if j == c { 5.0 } else { 0.0 }) + noise.sample(&mut rng) as f32));
        }
    }
    let labels = gmm_diag(&x, per * k, d, k, 1);
    for c in 0..k {
        let block = &labels[c * per..(c + 1) * per];
        assert!(block.iter().all(|&l| l == block[0]), "blob {c} was split");
    }
    assert!(labels[0] != labels[per] && labels[per] != labels[2 * per] && labels[0] != labels[2 * per]);
}
