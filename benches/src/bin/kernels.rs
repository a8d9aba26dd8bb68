//! `npm run bench:kernels`: the CPU kernels of a DGG step at the network's GEMM shapes, against the
//! float32 GEMM ceiling; and the per-point loss as a candle op chain. One JSON line, last.

use candle_core::{DType, Device, Tensor};
use serde_json::json;
use std::time::Instant;

fn time<F: FnMut() -> candle_core::Result<()>>(reps: usize, mut f: F) -> candle_core::Result<f64> {
    f()?;
    let t = Instant::now();
    for _ in 0..reps {
        f()?;
    }
    Ok(t.elapsed().as_secs_f64() / reps as f64)
}

fn main() -> candle_core::Result<()> {
    let dev = Device::Cpu;
    let b = 1000;
    let mut gemms = serde_json::Map::new();
    // (rows, inner, cols) of the forward products of the D-500-500-2000-10 network at batch 1000,
    // plus the layer-2 weight gradient (inner dimension = batch).
    for (name, m, k, n, transposed) in [
        ("x784_w500", b, 784, 500, true),
        ("h500_w500", b, 500, 500, true),
        ("h500_w2000", b, 500, 2000, true),
        ("h2000_w500", b, 2000, 500, true),
        ("h500_w784", b, 500, 784, true),
        ("h500_w2000_contiguous", b, 500, 2000, false),
        ("grad_w500x2000", 500, b, 2000, false),
    ] {
        let a = Tensor::randn(0f32, 1.0, (m, k), &dev)?;
        let w = if transposed { Tensor::randn(0f32, 1.0, (n, k), &dev)?.t()? } else { Tensor::randn(0f32, 1.0, (k, n), &dev)? };
        let s = time(5, || a.matmul(&w).map(|_| ()))?;
        gemms.insert(name.into(), json!({"seconds": s, "gflops": 2.0 * (m * k * n) as f64 / s / 1e9}));
    }
    let big = Tensor::randn(0f32, 1.0, (b, 2000), &dev)?;
    let relu_s = time(10, || big.relu().map(|_| ()))?;
    let l = Tensor::randn(0f32, 1.0, (b, 784), &dev)?;
    let softplus_s = time(10, || (l.relu()? + (l.abs()?.neg()?.exp()? + 1.0)?.log()?).map(|_| ()))?;
    let p = Tensor::randn(0f32, 1.0, (2000, 500), &dev)?;
    let adam_like_s = time(10, || {
        // The element-wise work of one AdamW update of a 1M-parameter tensor (candle's op chain).
        let m = (p.affine(0.9, 0.0)? + p.affine(0.1, 0.0)?)?;
        let v = (p.sqr()?.affine(0.001, 0.0)? + p.affine(0.999, 0.0)?)?;
        let _ = (m / (v.sqrt()? + 1e-8)?)?;
        Ok(())
    })?;
    // The networks' forward passes and the loss at batch 1000, MNIST shapes.
    let shape = dgg_core::nn::Shape { input_dim: 784, hidden: vec![500, 500, 2000], latent_dim: 10, n_clusters: 10, classifier_hidden: vec![] };
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(0);
    let nets = dgg_core::nn::Networks::new(&shape, &mut rng, DType::F32, &dev).map_err(|e| candle_core::Error::Msg(e.to_string()))?;
    let x = Tensor::rand(0f32, 1.0, (b, 784), &dev)?;
    let eps = Tensor::randn(0f32, 1.0, (b, 10), &dev)?;
    let s1 = Tensor::ones((b, 1), DType::F32, &dev)?;
    let prior = Tensor::zeros((b, 10), DType::F32, &dev)?;
    let e = |r: dgg_core::Result<()>| r.map_err(|e| candle_core::Error::Msg(e.to_string()));
    let encoder_s = time(5, || e(nets.encoder.forward(&x).map(|_| ())))?;
    let z = nets.encoder.mean(&x).map_err(|e| candle_core::Error::Msg(e.to_string()))?;
    let decoder_s = time(5, || e(nets.decoder.forward(&z).map(|_| ())))?;
    let batch = dgg_core::loss::Batch { x: &x, targets: &x, s: &s1, prior: &prior, eps: &eps };
    let loss_s = time(5, || e(dgg_core::loss::dgg_loss(&nets, dgg_core::config::Likelihood::Bernoulli, &batch).map(|_| ())))?;
    let bias = Tensor::randn(0f32, 1.0, 2000, &dev)?;
    let bias_add_s = time(10, || big.broadcast_add(&bias).map(|_| ()))?;
    let result = json!({
        "forward_seconds": {"encoder": encoder_s, "decoder": decoder_s, "dgg_loss_total": loss_s},
        "bias_add_1000x2000_seconds": bias_add_s,
        "bench": "kernels", "device": "cpu", "dtype": format!("{:?}", DType::F32), "batch": b,
        "gemm": gemms, "relu_1000x2000_seconds": relu_s, "softplus_1000x784_seconds": softplus_s,
        "adamw_chain_1m_params_seconds": adam_like_s, "ceiling_gflops": 200.0,
    });
    println!("{}", dgg_benches::write_result("kernels", result));
    Ok(())
}
