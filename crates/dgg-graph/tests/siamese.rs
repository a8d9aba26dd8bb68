//! The Siamese network: the contrastive loss against an f64 computation, parameter names and
//! layout (an initial-weights map), training on pendigits, determinism, cancellation, divergence.

mod common;

use candle_core::{Device, Tensor, Var};
use common::{clustered, pendigits};
use dgg_graph::siamese::parameter_shapes;
use dgg_graph::{contrastive_loss, exact_knn, train_siamese, Control, GraphError, Progress, SiameseConfig};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

fn f64_loss(e: &[Vec<f64>], pos: &[(u32, u32)], neg: &[(u32, u32)], c: f64) -> f64 {
    let dist = |a: u32, b: u32| -> f64 { e[a as usize].iter().zip(&e[b as usize]).map(|(x, y)| (x - y) * (x - y)).sum::<f64>().sqrt() };
    let p: f64 = pos.iter().map(|&(a, b)| dist(a, b).powi(2)).sum();
    let n: f64 = neg.iter().map(|&(a, b)| (c - dist(a, b)).max(0.0).powi(2)).sum();
    (p + n) / (pos.len() + neg.len()) as f64
}

#[test]
fn contrastive_loss_matches_f64_reference() {
    let rows: Vec<Vec<f64>> = (0..6).map(|i| (0..4).map(|j| ((i * 7 + j * 3) % 11) as f64 * 0.3 - 1.2).collect()).collect();
    let mut rows = rows;
    rows[5] = rows[4].clone(); // a negative pair at distance 0: hinge = c^2
    let flat: Vec<f32> = rows.iter().flatten().map(|&v| v as f32).collect();
    let emb = Tensor::from_vec(flat, (6, 4), &Device::Cpu).unwrap();
    let pos = [(0, 1), (2, 3), (1, 4)];
    let neg = [(0, 5), (4, 5), (3, 0), (2, 1)];
    for c in [0.5f32, 3.0] {
        let got = contrastive_loss(&emb, &pos, &neg, c).unwrap().to_scalar::<f32>().unwrap() as f64;
        let want = f64_loss(&rows, &pos, &neg, c as f64);
        assert!((got - want).abs() < 1e-4 * want.max(1.0), "c = {c}: {got} vs {want}");
    }
    // Only positives / only negatives.
    let got = contrastive_loss(&emb, &pos, &[], 3.0).unwrap().to_scalar::<f32>().unwrap() as f64;
    assert!((got - f64_loss(&rows, &pos, &[], 3.0)).abs() < 1e-4);
    assert!(contrastive_loss(&emb, &[], &[], 3.0).is_err());
    // The gradient stays finite at zero distance (sqrt guarded).
    let v = Var::from_tensor(&emb).unwrap();
    let loss = contrastive_loss(v.as_tensor(), &[], &[(4, 5)], 3.0).unwrap();
    let g = loss.backward().unwrap();
    let grad = g.get(v.as_tensor()).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert!(grad.iter().all(|x| x.is_finite()), "{grad:?}");
}

fn small_cfg(epochs: usize, seed: u64) -> SiameseConfig {
    SiameseConfig { hidden: vec![32, 32], latent_dim: 5, epochs, batch_size: 128, lr: 1e-3, seed, ..Default::default() }
}

#[test]
fn init_weights_are_used_by_name() {
    let (n, d) = (50, 3);
    let (x, _) = clustered(n, d, 2, 1.0, 1);
    let nb = exact_knn(&x, n, d, 2).unwrap();
    let cfg = SiameseConfig { hidden: vec![4], latent_dim: 2, epochs: 0, ..Default::default() };
    let shapes = parameter_shapes(d, &cfg.hidden, cfg.latent_dim);
    let names: Vec<&str> = shapes.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(names, ["l0.weight", "l0.bias", "mu.weight", "mu.bias"]);
    // Deterministic weights, PyTorch layout (out, in).
    let mut init = HashMap::new();
    let mut vals: HashMap<String, Vec<f64>> = HashMap::new();
    for (s, (name, shape)) in shapes.iter().enumerate() {
        let len: usize = shape.iter().product();
        let v: Vec<f64> = (0..len).map(|i| ((i * 5 + s * 3) % 7) as f64 * 0.2 - 0.6).collect();
        let t = Tensor::from_vec(v.iter().map(|&a| a as f32).collect::<Vec<_>>(), shape.as_slice(), &Device::Cpu).unwrap();
        init.insert(name.clone(), t);
        vals.insert(name.clone(), v);
    }
    init.insert("logvar.weight".into(), Tensor::zeros((2, 4), candle_core::DType::F32, &Device::Cpu).unwrap());
    let emb = train_siamese(&x, n, d, &nb, Some(&init), &cfg, &Device::Cpu, &Control::none()).unwrap();
    assert_eq!(emb.len(), n * 2);
    for i in [0, 17, 49] {
        let h: Vec<f64> = (0..4)
            .map(|o| {
                let s: f64 = (0..d).map(|t| vals["l0.weight"][o * d + t] * x[i * d + t] as f64).sum();
                (s + vals["l0.bias"][o]).max(0.0)
            })
            .collect();
        for o in 0..2 {
            let z: f64 = (0..4).map(|t| vals["mu.weight"][o * 4 + t] * h[t]).sum::<f64>() + vals["mu.bias"][o];
            assert!((emb[i * 2 + o] as f64 - z).abs() < 1e-5, "point {i} dim {o}");
        }
    }
    // A missing or misshapen parameter is named in the error.
    let mut bad = init.clone();
    bad.remove("mu.bias");
    let e = train_siamese(&x, n, d, &nb, Some(&bad), &cfg, &Device::Cpu, &Control::none()).unwrap_err();
    assert!(e.to_string().contains("mu.bias"), "{e}");
    let mut bad = init.clone();
    bad.insert("l0.weight".into(), Tensor::zeros((3, 4), candle_core::DType::F32, &Device::Cpu).unwrap());
    let e = train_siamese(&x, n, d, &nb, Some(&bad), &cfg, &Device::Cpu, &Control::none()).unwrap_err();
    assert!(e.to_string().contains("l0.weight"), "{e}");
    // NaN weights: divergence is reported with phase and epoch.
    let mut bad = init;
    bad.insert("mu.bias".into(), Tensor::new(&[f32::NAN, 0.0], &Device::Cpu).unwrap());
    let cfg1 = SiameseConfig { epochs: 1, ..cfg };
    let e = train_siamese(&x, n, d, &nb, Some(&bad), &cfg1, &Device::Cpu, &Control::none()).unwrap_err();
    assert!(matches!(&e, GraphError::NonFiniteLoss { phase, epoch: 1 } if phase == "siamese"), "{e}");
}

#[test]
fn training_on_pendigits_lowers_the_loss() {
    let Some((x, labels, n, d)) = pendigits() else {
        return;
    };
    let nb = exact_knn(&x, n, d, 10).unwrap();
    let per_epoch = Mutex::new(vec![(0.0f64, 0usize); 4]);
    let cb = |p: &Progress| {
        assert_eq!(p.phase, "siamese");
        assert_eq!(p.losses[0].0, "contrastive");
        let mut v = per_epoch.lock().unwrap();
        assert!(p.epoch >= 1 && p.batch >= 1 && p.batch <= p.batches, "1-based progress");
        v[p.epoch - 1].0 += p.losses[0].1;
        v[p.epoch - 1].1 += 1;
    };
    let ctl = Control { progress: Some(&cb), cancel: None };
    let emb = train_siamese(&x, n, d, &nb, None, &small_cfg(4, 3), &Device::Cpu, &ctl).unwrap();
    let means: Vec<f64> = per_epoch.into_inner().unwrap().iter().map(|(s, c)| s / *c as f64).collect();
    eprintln!("pendigits siamese loss per epoch: {means:?}");
    assert_eq!(means.len(), 4);
    assert!(means[3] < 0.7 * means[0], "{means:?}");
    assert!(emb.iter().all(|v| v.is_finite()));
    let p_euc = nb.purity(&labels).unwrap();
    let p_sia = exact_knn(&emb, n, 5, 10).unwrap().purity(&labels).unwrap();
    eprintln!("pendigits purity@10: euclidean {p_euc:.4}, siamese {p_sia:.4}");
    // A few epochs of a tiny net from random init do not beat the raw space on pendigits (0.98);
    // the learned space must still keep most of the class structure (chance is 0.1).
    assert!(p_sia > 0.7, "{p_sia}");
}

#[test]
fn same_seed_same_embedding() {
    let (n, d) = (600, 8);
    let (x, _) = clustered(n, d, 4, 1.0, 5);
    let nb = exact_knn(&x, n, d, 3).unwrap();
    let run = |seed| train_siamese(&x, n, d, &nb, None, &small_cfg(2, seed), &Device::Cpu, &Control::none()).unwrap();
    let (a, b, c) = (run(11), run(11), run(12));
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn cancellation_and_bad_config_are_errors() {
    let (n, d) = (600, 8);
    let (x, _) = clustered(n, d, 4, 1.0, 5);
    let nb = exact_knn(&x, n, d, 3).unwrap();
    let flag = AtomicBool::new(false);
    let calls = AtomicUsize::new(0);
    let cb = |_: &Progress| {
        calls.fetch_add(1, Ordering::SeqCst);
        flag.store(true, Ordering::SeqCst);
    };
    let ctl = Control { progress: Some(&cb), cancel: Some(&flag) };
    let e = train_siamese(&x, n, d, &nb, None, &small_cfg(5, 1), &Device::Cpu, &ctl).unwrap_err();
    assert!(matches!(e, GraphError::Cancelled), "{e}");
    assert_eq!(calls.load(Ordering::SeqCst), 1, "stopped at the next batch");

    let bad = |cfg: SiameseConfig| train_siamese(&x, n, d, &nb, None, &cfg, &Device::Cpu, &Control::none()).unwrap_err().to_string();
    assert!(bad(SiameseConfig { positives: 4, ..small_cfg(1, 1) }).contains("positives = 4"));
    assert!(bad(SiameseConfig { margin: -1.0, ..small_cfg(1, 1) }).contains("margin"));
    assert!(bad(SiameseConfig { lr: f64::NAN, ..small_cfg(1, 1) }).contains("lr"));
    assert!(bad(SiameseConfig { lr_step: 0, ..small_cfg(1, 1) }).contains("lr_step"));
    assert!(bad(SiameseConfig { batch_size: 0, ..small_cfg(1, 1) }).contains("batch_size"));
    assert!(bad(SiameseConfig { hidden: vec![8, 0], ..small_cfg(1, 1) }).contains("hidden"));
}
