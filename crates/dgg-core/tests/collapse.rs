//! No silent collapse: with the default options, many small clusters of high-dimensional,
//! strongly correlated rows (like 400 faces of 4096 pixels, 10 per person) keep their clusters.
//! Before the fix, greedy layer-wise pretraining left such an encoder dead and every row landed
//! in one cluster while the fit reported success.

use dgg_core::config::Config;
use dgg_core::fit;
use dgg_graph::Control;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `k` smooth "images" of side `side` (values in [0, 1], mean near 0.45, shared background), and
/// `per` noisy copies of each: rows of one class differ by noise, classes by a faint pattern.
fn faces(k: usize, per: usize, side: usize, seed: u64) -> (Vec<f32>, Vec<u32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let d = side * side;
    let background: Vec<f32> = (0..d).map(|p| 0.45 + 0.2 * (((p / side) as f32 / side as f32) * 3.0).sin()).collect();
    let mut x = Vec::with_capacity(k * per * d);
    let mut y = Vec::with_capacity(k * per);
    for c in 0..k {
        let (fx, fy, ph) = (rng.gen_range(1.0..4.0f32), rng.gen_range(1.0..4.0f32), rng.gen_range(0.0..6.28f32));
        for _ in 0..per {
            for p in 0..d {
                let (r, q) = ((p / side) as f32 / side as f32, (p % side) as f32 / side as f32);
                let v = background[p] + 0.15 * (fx * 6.28 * r + ph).sin() * (fy * 6.28 * q).cos() + rng.gen_range(-0.08..0.08f32);
                x.push(v.clamp(0.0, 1.0));
            }
            y.push(c as u32);
        }
    }
    (x, y)
}

#[test]
fn many_small_clusters_in_high_dimension_do_not_collapse() {
    let (k, per, side) = (40, 10, 64);
    let (x, _) = faces(k, per, side, 7);
    let n = k * per;
    let cfg = Config { n_clusters: k, ..Config::default() };
    let out = fit(&x, n, side * side, &cfg, None, &Control::none()).unwrap();
    let mut used = vec![0usize; k];
    out.labels.iter().for_each(|&l| used[l as usize] += 1);
    let used = used.iter().filter(|&&c| c > 0).count();
    assert!(used >= k * 3 / 4, "only {used} of {k} clusters in use; warnings: {:?}", out.warnings);
    // Whatever happened on the way is said, and a fit that empties clusters says so.
    if used < k {
        assert!(out.warnings.iter().any(|w| w.contains("empty")), "{:?}", out.warnings);
    }
}

/// `centre_encoder` leaves every trunk unit with a mean pre-activation of zero over the data
/// (checked in float64 from the weights it set), and splits the rows at each unit.
#[test]
fn centre_encoder_centres_every_unit() {
    use candle_core::{DType, Device, Tensor};
    use dgg_core::nn::{Networks, Shape};
    let (n, d) = (300, 64);
    let (x, _) = faces(3, n / 3, 8, 11);
    let shape = Shape { input_dim: d, hidden: vec![40, 30], latent_dim: 4, n_clusters: 3, classifier_hidden: vec![] };
    let nets = Networks::new(&shape, &mut ChaCha8Rng::seed_from_u64(1), DType::F32, &Device::Cpu).unwrap();
    let xt = Tensor::from_slice(&x, (n, d), &Device::Cpu).unwrap();
    dgg_core::pretrain::centre_encoder(&nets, &xt).unwrap();
    let mut h = xt.to_dtype(DType::F64).unwrap();
    for layer in &nets.encoder.trunk.layers {
        let (w, b) = (layer.weight().to_dtype(DType::F64).unwrap(), layer.bias().unwrap().to_dtype(DType::F64).unwrap());
        let pre = h.matmul(&w.t().unwrap()).unwrap().broadcast_add(&b).unwrap();
        let means = pre.mean(0).unwrap().to_vec1::<f64>().unwrap();
        let spread = pre.sqr().unwrap().mean_all().unwrap().to_scalar::<f64>().unwrap().sqrt();
        assert!(means.iter().all(|m| m.abs() < 1e-4 * spread.max(1.0)), "unit means {means:?}");
        // Every unit is on for some rows and off for others.
        let on = pre.gt(0.0).unwrap().to_dtype(DType::F64).unwrap().mean(0).unwrap().to_vec1::<f64>().unwrap();
        assert!(on.iter().all(|&f| f > 0.0 && f < 1.0), "fraction on per unit {on:?}");
        h = pre.relu().unwrap();
    }
}
