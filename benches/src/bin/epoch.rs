//! `npm run bench:epoch`: one DGG training epoch over MNIST-70k (784-d, 20 neighbours, the paper's
//! D-500-500-2000-10 network) on this machine's CPU, against the float32 GEMM ceiling and against the
//! same epoch written plainly in PyTorch on the same cores (benches/peers/epoch_torch.py).
//! `-- --phase pretrain` times one epoch of end-to-end autoencoder pretraining instead (the engine's
//! `pretrain::autoencoder`, at the default batch size and learning rate).
//!
//! The graph is a random 20-neighbour graph with uniform weights: the cost of an epoch depends on
//! the number of neighbours, not on which they are, and this keeps the bench free of the graph build.
//! Also times the parts of one step (forward, backward, optimiser) to show where the time goes.
//!
//! The PyTorch peer runs after the engine's epoch (never at the same time) when
//! benches/peers/.venv has torch (`benches/peers/setup.sh --torch`); otherwise it is skipped with a
//! message. The engine's initial weights, the data and one check batch go to a temporary folder;
//! the peer first computes the loss of that batch at those weights, which must agree with the
//! engine's (`loss_match`: relative difference at most 1e-4), then times its own epoch.
//! `-- --note TEXT` records a note (e.g. a busy machine) in the result.

use candle_core::{DType, Device, Tensor};
use dgg_core::config::{Config, Likelihood};
use dgg_core::loss::{dgg_loss, Batch};
use dgg_core::nn::{vars_with_prefix, Networks, Shape};
use dgg_core::prior::{graph_targets, prior_rows, GammaTable};
use dgg_core::step::{autoencoder_step, dgg_step};
use dgg_core::train::{normal, train_dgg, DggData, Phase};
use dgg_graph::Control;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Multiply-adds x 2 of one forward pass per point: encoder trunk, mean head, decoder, and for DGG
/// (`dgg`) also the log-variance head and the classifier.
fn forward_flops(d: usize, hidden: &[usize], m: usize, k: usize, dgg: bool) -> f64 {
    let mut sizes = vec![d];
    sizes.extend(hidden);
    let heads = if dgg { 2 } else { 1 };
    let enc: usize = sizes.windows(2).map(|w| w[0] * w[1]).sum::<usize>() + heads * hidden.last().unwrap() * m;
    let mut dec_sizes = vec![m];
    dec_sizes.extend(hidden.iter().rev());
    dec_sizes.push(d);
    let dec: usize = dec_sizes.windows(2).map(|w| w[0] * w[1]).sum();
    2.0 * (enc + dec + if dgg { m * k } else { 0 }) as f64
}

/// The Python of benches/peers/.venv when it can import torch; otherwise why not.
fn torch_python(root: &Path) -> Result<PathBuf, String> {
    let python = root.join("benches/peers/.venv/bin/python");
    if !python.exists() {
        return Err("no benches/peers/.venv".into());
    }
    let ok = std::process::Command::new(&python)
        .args(["-c", "import torch"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        Ok(python)
    } else {
        Err("benches/peers/.venv has no torch".into())
    }
}

fn write_f32(path: &Path, v: &[f32]) -> std::io::Result<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    v.iter().try_for_each(|x| f.write_all(&x.to_le_bytes()))?;
    f.flush()
}

fn write_u32(path: &Path, v: &[u32]) -> std::io::Result<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    v.iter().try_for_each(|x| f.write_all(&x.to_le_bytes()))?;
    f.flush()
}

/// The folder the peer reads: manifest.json (sizes, settings, the engine's check loss, file
/// names) and raw little-endian arrays. `arrays` are written as named; the networks' parameters
/// as `param:NAME`.
struct PeerFolder {
    dir: PathBuf,
    files: serde_json::Map<String, Value>,
}

impl PeerFolder {
    fn new() -> std::io::Result<Self> {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        let dir = std::env::temp_dir().join(format!("dgg-epoch-peer-{}-{nanos}", std::process::id()));
        std::fs::create_dir(&dir)?;
        Ok(Self { dir, files: serde_json::Map::new() })
    }

    fn f32(&mut self, name: &str, v: &[f32]) -> std::io::Result<()> {
        let file = format!("{}.f32", self.files.len());
        write_f32(&self.dir.join(&file), v)?;
        self.files.insert(name.into(), json!(file));
        Ok(())
    }

    fn u32(&mut self, name: &str, v: &[u32]) -> std::io::Result<()> {
        let file = format!("{}.u32", self.files.len());
        write_u32(&self.dir.join(&file), v)?;
        self.files.insert(name.into(), json!(file));
        Ok(())
    }

    /// Every parameter of `nets`, as the manifest's `params` (name -> shape).
    fn params(&mut self, nets: &Networks) -> Result<Value, Box<dyn std::error::Error>> {
        let mut shapes = serde_json::Map::new();
        let mut named = nets.snapshot()?;
        named.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, t) in named {
            self.f32(&format!("param:{name}"), &t.flatten_all()?.to_vec1::<f32>()?)?;
            shapes.insert(name, json!(t.dims()));
        }
        Ok(Value::Object(shapes))
    }

    /// Writes the manifest, runs the peer and returns its JSON.
    fn run(self, python: &Path, root: &Path, mut manifest: Value) -> Result<Value, String> {
        manifest["files"] = Value::Object(self.files.clone());
        let result = (|| {
            std::fs::write(self.dir.join("manifest.json"), manifest.to_string()).map_err(|e| e.to_string())?;
            let out = std::process::Command::new(python)
                .arg(root.join("benches/peers/epoch_torch.py"))
                .arg(&self.dir)
                .stderr(std::process::Stdio::inherit())
                .output()
                .map_err(|e| format!("{}: {e}", python.display()))?;
            if !out.status.success() {
                return Err(format!("epoch_torch.py exited with {}", out.status));
            }
            let text = String::from_utf8_lossy(&out.stdout);
            serde_json::from_str(text.lines().last().unwrap_or("")).map_err(|e| format!("epoch_torch.py: {e}"))
        })();
        let _ = std::fs::remove_dir_all(&self.dir);
        result
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let pretrain = match arg("--phase").as_deref() {
        None | Some("dgg") => false,
        Some("pretrain") => true,
        Some(other) => return Err(format!("--phase: 'dgg' or 'pretrain', got '{other}'").into()),
    };
    let note = arg("--note");
    let cfg = Config::default();
    let batch: usize = std::env::var("DGG_BATCH").ok().and_then(|s| s.parse().ok()).unwrap_or(if pretrain { cfg.batch_size } else { 1000 });
    let data = dgg_benches::datasets::load("mnist", &root, None)?;
    let (n, d, m, k, nbrs) = (data.n, data.d, 10, 10, 20);
    let hidden = vec![500, 500, 2000];
    let threads = rayon::current_num_threads();
    let device = Device::Cpu;
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let shape = Shape { input_dim: d, hidden: hidden.clone(), latent_dim: m, n_clusters: k, classifier_hidden: vec![] };
    let nets = Networks::new(&shape, &mut rng, DType::F32, &device)?;
    let x = Tensor::from_slice(&data.x, (n, d), &device)?;
    let (lr, weight_decay) = if pretrain { (cfg.lr.pretrain, cfg.weight_decay) } else { (1e-4, 1e-4) };
    let flops_point = 3.0 * forward_flops(d, &hidden, m, k, !pretrain);
    let epoch_flops = flops_point * n as f64;

    // The peer's folder, written before anything trains: the initial weights and the check batch.
    let python = torch_python(&root);
    let mut peer = match &python {
        Ok(_) => Some(PeerFolder::new()?),
        Err(why) => {
            eprintln!("pytorch peer: skipped ({why}; run benches/peers/setup.sh --torch to install it)");
            None
        }
    };
    let check_idx: Vec<u32> = (0..batch.min(n) as u32).collect();
    let check_it = Tensor::from_slice(&check_idx, check_idx.len(), &device)?;
    let mut manifest = json!({
        "phase": if pretrain { "pretrain" } else { "dgg" }, "n": n, "d": d, "m": m, "k": k, "hidden": hidden,
        "batch": batch, "lr": lr, "weight_decay": weight_decay, "threads": threads, "epoch_flops": epoch_flops,
    });
    if let Some(p) = peer.as_mut() {
        manifest["params"] = p.params(&nets)?;
        p.f32("x", &data.x)?;
        p.u32("check_idx", &check_idx)?;
    }

    let (parts, epoch_s, check_loss) = if pretrain {
        let xb = x.index_select(&check_it, 0)?;
        let check_loss = autoencoder_step(&nets, Likelihood::Bernoulli, &xb, None)?.0;
        let reps = 3;
        let t = Instant::now();
        for _ in 0..reps {
            nets.decoder.forward(&nets.encoder.mean(&xb)?)?;
        }
        let forward_s = t.elapsed().as_secs_f64() / reps as f64;
        let t = Instant::now();
        for _ in 0..reps {
            autoencoder_step(&nets, Likelihood::Bernoulli, &xb, None)?;
        }
        let step_s = t.elapsed().as_secs_f64() / reps as f64;
        let grads = autoencoder_step(&nets, Likelihood::Bernoulli, &xb, None)?.2;
        let vars = vars_with_prefix(&nets.varmap, &["encoder.", "decoder."]);
        let mut opt = dgg_core::optim::Adam::new(vars, candle_nn::ParamsAdamW { lr: 1e-9, weight_decay: 1e-4, ..Default::default() })?;
        let t = Instant::now();
        for _ in 0..reps {
            opt.apply(&grads)?;
        }
        let optimiser_s = t.elapsed().as_secs_f64() / reps as f64;

        // One full epoch through the engine's pretraining phase.
        let phase = Phase { name: "pretrain", epochs: 1, batch_size: batch, lr, lr_step: 0, lr_gamma: 1.0, weight_decay };
        let mut history = Vec::new();
        let t = Instant::now();
        dgg_core::pretrain::autoencoder(&nets, Likelihood::Bernoulli, &x, &phase, &mut rng, &Control::none(), &mut history)?;
        let epoch_s = t.elapsed().as_secs_f64();
        (json!({"forward": forward_s, "forward_and_gradients": step_s, "optimiser": optimiser_s}), epoch_s, check_loss)
    } else {
        let graph = dgg_benches::random_graph(n, nbrs, &mut rng)?;
        let reverse = graph.reverse();
        let (targets, s) = graph_targets(&data.x, d, &reverse);
        let mut gamma = GammaTable { k, values: vec![1.0 / k as f32; n * k] };
        // The check batch: its prior from the uniform gamma table, its noise from a separate stream
        // (so the engine's own run is the same with or without the peer).
        let check_prior = prior_rows(&check_idx, &graph, &reverse, &gamma);
        let check_eps = normal(&mut ChaCha8Rng::seed_from_u64(2), check_idx.len(), m, &device)?;
        if let Some(p) = peer.as_mut() {
            p.f32("targets", &targets)?;
            p.f32("s", &s)?;
            p.u32("graph_indices", &graph.indices)?;
            p.f32("graph_weights", &graph.weights)?;
            p.f32("check_eps", &check_eps.flatten_all()?.to_vec1::<f32>()?)?;
            manifest["graph_k"] = json!(graph.k);
        }
        let targets = Tensor::from_vec(targets, (n, d), &device)?;
        let s = Tensor::from_vec(s, (n, 1), &device)?;
        let (xb, tb, sb) = (x.index_select(&check_it, 0)?, targets.index_select(&check_it, 0)?, s.index_select(&check_it, 0)?);
        let prior = Tensor::from_vec(check_prior, (check_idx.len(), k), &device)?;
        let check_loss = dgg_step(&nets, Likelihood::Bernoulli, &Batch { x: &xb, targets: &tb, s: &sb, prior: &prior, eps: &check_eps })?.total;

        // Parts of one step at the bench's batch size.
        let prior = Tensor::zeros((check_idx.len(), k), DType::F32, &device)?;
        let eps = normal(&mut rng, check_idx.len(), m, &device)?;
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
        let phase = Phase { name: "dgg", epochs: 1, batch_size: batch, lr, lr_step: 0, lr_gamma: 1.0, weight_decay };
        let dd = DggData { x: &x, targets: &targets, s: &s, graph: &graph, reverse: &reverse };
        let mut history = Vec::new();
        let t = Instant::now();
        train_dgg(&nets, Likelihood::Bernoulli, &dd, &mut gamma, &phase, false, &mut rng, &Control::none(), &mut history)?;
        let epoch_s = t.elapsed().as_secs_f64();
        (json!({"forward": forward_s, "forward_and_gradients": step_s, "optimiser": optimiser_s}), epoch_s, check_loss)
    };

    // The peer, after the engine's epoch.
    let torch = match (peer, &python) {
        (Some(p), Ok(python)) => {
            manifest["check_loss"] = json!(check_loss);
            match p.run(python, &root, manifest) {
                Ok(v) => Some(v),
                Err(e) => {
                    eprintln!("pytorch peer: failed ({e})");
                    None
                }
            }
        }
        _ => None,
    };
    let torch_s = torch.as_ref().and_then(|t| t["seconds_per_epoch"].as_f64());
    let torch_check = torch.as_ref().and_then(|t| t["check_loss"].as_f64());

    let steps = n.div_ceil(batch) as f64;
    let mut step_parts = parts;
    step_parts["steps_per_epoch"] = json!(steps);
    let mut result = json!({
        "bench": if pretrain { "epoch-pretrain" } else { "epoch" }, "phase": if pretrain { "pretrain" } else { "dgg" },
        "n": n, "d": d, "batch": batch, "lr": lr, "device": "cpu",
        "threads": threads,
        "seconds_per_epoch": epoch_s,
        "epoch_tflop": epoch_flops / 1e12,
        "achieved_gflops": epoch_flops / epoch_s / 1e9,
        "ceiling_gflops": 200.0,
        "step_parts_seconds": step_parts,
        "step_gemm_seconds_at_ceiling": flops_point * batch as f64 / 200e9,
        "pytorch_seconds": torch_s,
        "pytorch_gflops": torch_s.map(|t| epoch_flops / t / 1e9),
        "ratio": torch_s.map(|t| epoch_s / t),
        "loss_match": torch_check.map(|c| (c - check_loss).abs() <= 1e-4 * check_loss.abs()),
        "check_loss": {"dgg_native": check_loss, "pytorch": torch_check},
        "pytorch": torch,
    });
    if !pretrain {
        result["neighbours"] = json!(nbrs);
        result["per_pair_epoch_tflop"] = json!(epoch_flops * (nbrs + 1) as f64 / 1e12);
    }
    if let Some(note) = note {
        result["note"] = json!(note);
    }
    println!("{}", dgg_benches::write_result(if pretrain { "epoch-pretrain" } else { "epoch" }, result));
    Ok(())
}
