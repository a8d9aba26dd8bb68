//! `npm run bench:epoch`: one DGG training epoch over MNIST-70k (784-d, 20 neighbours, the paper's
//! D-500-500-2000-10 network) on this machine's CPU, against the float32 GEMM ceiling.
//!
//! The graph is a random 20-neighbour graph with uniform weights: the cost of an epoch depends on
//! the number of neighbours, not on which they are, and this keeps the bench free of the graph build.
//! Also times the parts of one step (forward, backward, optimiser) to show where the time goes.

use candle_core::{DType, Device, Tensor};
use dgg_core::config::Likelihood;
use dgg_core::loss::{dgg_loss, Batch};
use dgg_core::nn::{vars_with_prefix, Networks, Shape};
use dgg_core::prior::{graph_targets, GammaTable};
use dgg_core::step::dgg_step;
use dgg_core::train::{train_dgg, DggData, Phase};
use dgg_graph::Control;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use std::time::Instant;

/// Multiply-adds x 2 of one forward pass per point, encoder + decoder + heads + classifier.
fn forward_flops(d: usize, hidden: &[usize], m: usize, k: usize) -> f64 {
    let mut sizes = vec![d];
    sizes.extend(hidden);
    let enc: usize = sizes.windows(2).map(|w| w[0] * w[1]).sum::<usize>() + 2 * hidden.last().unwrap() * m;
    let mut dec_sizes = vec![m];
    dec_sizes.extend(hidden.iter().rev());
    dec_sizes.push(d);
    let dec: usize = dec_sizes.windows(2).map(|w| w[0] * w[1]).sum();
    2.0 * (enc + dec + m * k) as f64
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let batch: usize = std::env::var("DGG_BATCH").ok().and_then(|s| s.parse().ok()).unwrap_or(1000);
    let data = dgg_benches::datasets::load("mnist", &root, None)?;
    let (n, d, m, k, nbrs) = (data.n, data.d, 10, 10, 20);
    let hidden = vec![500, 500, 2000];
    let device = Device::Cpu;
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let shape = Shape { input_dim: d, hidden: hidden.clone(), latent_dim: m, n_clusters: k, classifier_hidden: vec![] };
    let nets = Networks::new(&shape, &mut rng, DType::F32, &device)?;
    let graph = dgg_benches::random_graph(n, nbrs, &mut rng)?;
    let reverse = graph.reverse();
    let (targets, s) = graph_targets(&data.x, d, &reverse);
    let x = Tensor::from_slice(&data.x, (n, d), &device)?;
    let targets = Tensor::from_vec(targets, (n, d), &device)?;
    let s = Tensor::from_vec(s, (n, 1), &device)?;
    let mut gamma = GammaTable { k, values: vec![1.0 / k as f32; n * k] };

    // Parts of one step at the bench's batch size.
    let idx: Vec<u32> = (0..batch as u32).collect();
    let it = Tensor::from_slice(&idx, batch, &device)?;
    let (xb, tb, sb) = (x.index_select(&it, 0)?, targets.index_select(&it, 0)?, s.index_select(&it, 0)?);
    let prior = Tensor::zeros((batch, k), DType::F32, &device)?;
    let eps = dgg_core::train::normal(&mut rng, batch, m, &device)?;
    let b = Batch { x: &xb, targets: &tb, s: &sb, prior: &prior, eps: &eps };
    let reps = 3;
    let t = Instant::now();
    for _ in 0..reps {
        dgg_step(&nets, Likelihood::Bernoulli, &b)?;
    }
    let step_s = t.elapsed().as_secs_f64() / reps as f64;
    let t = Instant::now();
    for _ in 0..reps {
        dgg_loss(&nets, Likelihood::Bernoulli, &b)?;
    }
    let forward_s = t.elapsed().as_secs_f64() / reps as f64;
    let out = dgg_step(&nets, Likelihood::Bernoulli, &b)?;
    let vars = vars_with_prefix(&nets.varmap, &["encoder.", "decoder.", "classifier.", "gmm."]);
    let mut opt = dgg_core::optim::Adam::new(vars, candle_nn::ParamsAdamW { lr: 1e-9, weight_decay: 1e-4, ..Default::default() })?;
    let t = Instant::now();
    for _ in 0..reps {
        opt.apply(&out.grads)?;
    }
    let optimiser_s = t.elapsed().as_secs_f64() / reps as f64;

    // One full epoch through the training loop.
    let phase = Phase { name: "dgg", epochs: 1, batch_size: batch, lr: 1e-4, lr_step: 0, lr_gamma: 1.0, weight_decay: 1e-4 };
    let dd = DggData { x: &x, targets: &targets, s: &s, graph: &graph, reverse: &reverse };
    let mut history = Vec::new();
    let t = Instant::now();
    train_dgg(&nets, Likelihood::Bernoulli, &dd, &mut gamma, &phase, false, &mut rng, &Control::none(), &mut history)?;
    let epoch_s = t.elapsed().as_secs_f64();

    let flops_point = 3.0 * forward_flops(d, &hidden, m, k);
    let epoch_flops = flops_point * n as f64;
    let steps = n.div_ceil(batch) as f64;
    let result = json!({
        "bench": "epoch", "n": n, "d": d, "neighbours": nbrs, "batch": batch, "device": "cpu",
        "threads": std::thread::available_parallelism().map(|v| v.get()).unwrap_or(0),
        "seconds_per_epoch": epoch_s,
        "epoch_tflop": epoch_flops / 1e12,
        "achieved_gflops": epoch_flops / epoch_s / 1e9,
        "ceiling_gflops": 200.0,
        "step_parts_seconds": {"forward": forward_s, "forward_and_gradients": step_s, "optimiser": optimiser_s, "steps_per_epoch": steps},
        "step_gemm_seconds_at_ceiling": flops_point * batch as f64 / 200e9,
        "per_pair_epoch_tflop": epoch_flops * (nbrs + 1) as f64 / 1e12,
    });
    println!("{}", dgg_benches::write_result("epoch", result));
    Ok(())
}
