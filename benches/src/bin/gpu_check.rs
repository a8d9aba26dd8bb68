//! The GPU check: one standalone binary, run on the GPU machine (one H100, CUDA 13 libraries,
//! driver 580, no Rust/Node/network), that checks and times the CUDA build in one go and writes one
//! JSON file. Built by scripts/build-cuda.sh (`--features cuda`); shipped by benches/gpu/prepare.sh.
//!
//! Sections (each catches its own errors and panics; the JSON is rewritten after each, so a run cut
//! short still leaves what it measured):
//! - `parity`: the same networks and batch on the CPU and on the device; `dgg_step` on both; for the
//!   loss, its terms, gamma and every gradient, the relative difference ||a - b|| / ||b|| (CPU as
//!   reference; the pass criterion) and the largest element's, max |a - b| / max |b| (reported).
//!   TF32 is off in candle by default (`tf32: false`, tolerance 1e-4); the same comparison with TF32
//!   on is reported beside it (tolerance 1e-2). A float64 CPU step is the independent reference of
//!   both f32 results, with the count of encoder ReLU units whose activity differs from float64's:
//!   an input that rounds to the other side of zero flips one unit's gradient for one row, which
//!   moves the max-element figure by about 1/batch and the deeper layers' gradients by about
//!   1/sqrt(batch) of that, on whichever f32 result it happens to. Also the device's explicit
//!   gradients against candle's autograd of `dgg_loss` on the same device, and the optimiser.
//! - `epoch`: seconds per DGG training epoch over MNIST-70k (random 20-neighbour graph, the paper's
//!   784-500-500-2000-10 network, as benches/src/bin/epoch.rs) at each batch size, the parts of one
//!   step, and the epoch at the first batch size with TF32 on.
//! - `fit`: `dgg_core::fit` on MNIST-70k on the device with the default configuration (`Config::
//!   default()`, recorded in the JSON; `--graph` picks another graph source): the time of each phase
//!   and ACC/NMI/ARI. A deadline (--fit-budget-s) cancels it if it runs long; the
//!   epochs finished by then are reported.
//!
//! Usage:
//!   gpu_check --mnist DIR [--out FILE] [--device cuda|cpu] [--quick] [--sections parity,epoch,fit]
//!             [--batches 1000,4096,256] [--timed-epochs 2] [--fit-budget-s 300] [--fit-batch 256]
//!             [--graph siamese|euclidean|none] [--siamese-positives euclidean|agreed] [--seed S]
//!             [--dgg-batch-size N] [--override JSON]
//!             [--epochs-layerwise N --epochs-pretrain N --epochs-siamese N --epochs-classifier N
//!              --epochs-dgg N]
//! DIR holds the four MNIST IDX files, raw or gzip'd (`train-images-idx3-ubyte[.gz]`, ...).
//! Default output: $OUT/gpu_check.json when OUT is set, else ./gpu_check.json.
//! `--device cpu --quick` runs every section on this machine's CPU with tiny sizes (a logic check).

use candle_core::{DType, Device, Tensor};
use dgg_core::config::{Config, DeviceChoice, Likelihood};
use dgg_core::loss::{dgg_loss, Batch};
use dgg_core::nn::{vars_with_prefix, Networks, Shape};
use dgg_core::prior::{graph_targets, prior_rows, GammaTable};
use dgg_core::step::dgg_step;
use dgg_core::train::{normal, train_dgg, DggData, Phase};
use dgg_graph::{Control, Progress};
use flate2::read::GzDecoder;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Instant;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

struct Args {
    mnist: PathBuf,
    out: PathBuf,
    device: String,
    quick: bool,
    sections: Vec<String>,
    batches: Vec<usize>,
    timed_epochs: usize,
    fit_budget_s: f64,
    fit_batch: usize,
    graph: Option<String>,
    siamese_positives: Option<String>,
    seed: Option<u64>,
    dgg_batch: Option<usize>,
    epochs: Vec<(String, usize)>,
    /// `--override JSON`: merged into the fit's Config last (serde names).
    patch: Option<serde_json::Value>,
}

fn parse_args() -> Res<Args> {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let get = |name: &str| raw.iter().position(|a| a == name).and_then(|i| raw.get(i + 1).cloned());
    let quick = raw.iter().any(|a| a == "--quick");
    let list = |s: String| -> Res<Vec<usize>> { s.split(',').map(|v| v.trim().parse::<usize>().map_err(|e| format!("'{v}': {e}").into())).collect() };
    let out = match get("--out") {
        Some(p) => PathBuf::from(p),
        None => std::env::var_os("OUT").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(".")).join("gpu_check.json"),
    };
    let mut epochs = Vec::new();
    for name in ["layerwise", "pretrain", "siamese", "classifier", "dgg"] {
        if let Some(v) = get(&format!("--epochs-{name}")) {
            epochs.push((name.to_string(), v.parse()?));
        }
    }
    Ok(Args {
        mnist: PathBuf::from(get("--mnist").ok_or("--mnist DIR is required (the four MNIST IDX files, raw or .gz)")?),
        out,
        device: get("--device").unwrap_or_else(|| "cuda".into()),
        quick,
        sections: get("--sections").unwrap_or_else(|| "parity,epoch,fit".into()).split(',').map(|s| s.trim().to_string()).collect(),
        batches: match get("--batches") {
            Some(s) => list(s)?,
            None if quick => vec![256, 1024],
            None => vec![1000, 4096, 256],
        },
        timed_epochs: get("--timed-epochs").map(|s| s.parse()).transpose()?.unwrap_or(if quick { 1 } else { 2 }),
        fit_budget_s: get("--fit-budget-s").map(|s| s.parse()).transpose()?.unwrap_or(300.0),
        fit_batch: get("--fit-batch").map(|s| s.parse()).transpose()?.unwrap_or(256),
        graph: get("--graph"),
        siamese_positives: get("--siamese-positives"),
        seed: get("--seed").map(|s| s.parse()).transpose()?,
        dgg_batch: get("--dgg-batch-size").map(|s| s.parse()).transpose()?,
        patch: get("--override").map(|s| serde_json::from_str(&s)).transpose().map_err(|e| format!("--override: {e}"))?,
        epochs,
    })
}

/// One IDX file, raw or gzip'd, without its header.
fn read_idx(dir: &Path, name: &str, header: usize) -> Res<Vec<u8>> {
    let plain = dir.join(name);
    let gz = dir.join(format!("{name}.gz"));
    let bytes = if plain.exists() {
        std::fs::read(&plain)?
    } else {
        let mut v = Vec::new();
        GzDecoder::new(std::fs::File::open(&gz).map_err(|e| format!("{}: {e}", gz.display()))?).read_to_end(&mut v)?;
        v
    };
    if bytes.len() < header || bytes[..3] != [0, 0, 8] {
        return Err(format!("{name}: not an IDX uint8 file").into());
    }
    Ok(bytes[header..].to_vec())
}

/// MNIST-70k (train then test), pixels / 255.
fn load_mnist(dir: &Path) -> Res<(Vec<f32>, Vec<u32>)> {
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for (img, lab) in [("train-images-idx3-ubyte", "train-labels-idx1-ubyte"), ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")] {
        x.extend(read_idx(dir, img, 16)?.into_iter().map(|v| v as f32 / 255.0));
        y.extend(read_idx(dir, lab, 8)?.into_iter().map(u32::from));
    }
    if x.len() != y.len() * 784 {
        return Err(format!("MNIST: {} pixels for {} labels", x.len(), y.len()).into());
    }
    Ok((x, y))
}

fn sync(device: &Device) -> Res<()> {
    device.synchronize()?;
    Ok(())
}

fn tf32() -> bool {
    candle_core::cuda::gemm_reduced_precision_f32()
}

fn set_tf32(on: bool) {
    candle_core::cuda::set_gemm_reduced_precision_f32(on)
}

/// MiB of device memory in use (total - free, as the driver reports it), sampled from the thread
/// that runs the fit: a leak shows as growth from epoch to epoch. None on the CPU or when the
/// driver does not answer.
#[cfg(feature = "cuda")]
fn device_used_mib() -> Option<f64> {
    candle_core::cuda_backend::cudarc::driver::result::mem_get_info().ok().map(|(free, total)| (total - free) as f64 / 1048576.0)
}

#[cfg(not(feature = "cuda"))]
fn device_used_mib() -> Option<f64> {
    None
}

fn to_f64(t: &Tensor) -> Res<Vec<f64>> {
    Ok(t.to_device(&Device::Cpu)?.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?)
}

/// max |a - b| / max |b| (b the reference); 0 when both are zero.
fn rel_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let diff = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
    let scale = b.iter().map(|y| y.abs()).fold(0.0, f64::max);
    ratio(diff, scale)
}

/// ||a - b|| / ||b|| (Euclidean norms, b the reference); 0 when both are zero.
fn rel_norm(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let diff = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>().sqrt();
    let scale = b.iter().map(|y| y * y).sum::<f64>().sqrt();
    ratio(diff, scale)
}

fn ratio(diff: f64, scale: f64) -> f64 {
    if diff == 0.0 {
        0.0
    } else if !diff.is_finite() || scale == 0.0 {
        f64::INFINITY
    } else {
        diff / scale
    }
}

fn model_shape(quick: bool) -> Shape {
    let hidden = if quick { vec![64, 64, 128] } else { vec![500, 500, 2000] };
    Shape { input_dim: 784, hidden, latent_dim: 10, n_clusters: 10, classifier_hidden: vec![] }
}

/// Networks on `device` with the mixture set to non-trivial values (the same on every device).
fn networks(shape: &Shape, seed: u64, device: &Device) -> Res<Networks> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let nets = Networks::new(shape, &mut rng, DType::F32, device)?;
    let (k, m) = (shape.n_clusters, shape.latent_dim);
    let means: Vec<f32> = (0..k * m).map(|_| rng.gen_range(-1.5f32..1.5)).collect();
    let logvars: Vec<f32> = (0..k * m).map(|_| rng.gen_range(-0.7f32..0.7)).collect();
    nets.set("gmm.means", &Tensor::from_vec(means, (k, m), &Device::Cpu)?)?;
    nets.set("gmm.logvars", &Tensor::from_vec(logvars, (k, m), &Device::Cpu)?)?;
    Ok(nets)
}

/// Parameter name -> tensor id, sorted by name.
fn named_ids(nets: &Networks) -> Vec<(String, candle_core::TensorId)> {
    let data = nets.varmap.data().lock().expect("varmap lock");
    let mut v: Vec<(String, candle_core::TensorId)> = data.iter().map(|(k, var)| (k.clone(), var.as_tensor().id())).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

struct Owned {
    x: Tensor,
    targets: Tensor,
    s: Tensor,
    prior: Tensor,
    eps: Tensor,
}

impl Owned {
    fn batch(&self) -> Batch<'_> {
        Batch { x: &self.x, targets: &self.targets, s: &self.s, prior: &self.prior, eps: &self.eps }
    }
    fn to(&self, device: &Device) -> Res<Owned> {
        Ok(Owned {
            x: self.x.to_device(device)?,
            targets: self.targets.to_device(device)?,
            s: self.s.to_device(device)?,
            prior: self.prior.to_device(device)?,
            eps: self.eps.to_device(device)?,
        })
    }
}

/// A batch of the first `p` MNIST rows with a random 20-neighbour graph among them and a random
/// (non-uniform) gamma table for the prior, on the CPU.
fn parity_batch(x: &[f32], p: usize, k: usize, m: usize, rng: &mut ChaCha8Rng) -> Res<Owned> {
    let d = 784;
    let graph = dgg_benches::random_graph(p, 20.min(p - 1), rng)?;
    let reverse = graph.reverse();
    let xs = &x[..p * d];
    let (t, s) = graph_targets(xs, d, &reverse);
    let mut values = Vec::with_capacity(p * k);
    for _ in 0..p {
        let row: Vec<f32> = (0..k).map(|_| rng.gen_range(0.01f32..1.0)).collect();
        let sum: f32 = row.iter().sum();
        values.extend(row.into_iter().map(|v| v / sum));
    }
    let gamma = GammaTable { k, values };
    let all: Vec<u32> = (0..p as u32).collect();
    let dev = Device::Cpu;
    Ok(Owned {
        x: Tensor::from_slice(xs, (p, d), &dev)?,
        targets: Tensor::from_vec(t, (p, d), &dev)?,
        s: Tensor::from_vec(s, (p, 1), &dev)?,
        prior: Tensor::from_vec(prior_rows(&all, &graph, &reverse, &gamma), (p, k), &dev)?,
        eps: normal(rng, p, m, &dev)?,
    })
}

/// Relative differences of everything `dgg_step` returns, `a` against the reference `b`: the
/// largest norm-wise and the largest max-element figure over the tensors, and each tensor's pair.
fn compare_steps(
    a: &dgg_core::step::StepOutput,
    a_ids: &[(String, candle_core::TensorId)],
    b: &dgg_core::step::StepOutput,
    b_ids: &[(String, candle_core::TensorId)],
) -> Res<(f64, f64, Value)> {
    let mut pairs: Vec<(String, Vec<f64>, Vec<f64>)> = vec![("loss".into(), vec![a.total], vec![b.total])];
    for ((name, va), (_, vb)) in a.terms.iter().zip(&b.terms) {
        pairs.push((format!("term.{name}"), vec![*va], vec![*vb]));
    }
    pairs.push(("gamma".into(), to_f64(&a.gamma)?, to_f64(&b.gamma)?));
    for ((name, ia), (_, ib)) in a_ids.iter().zip(b_ids) {
        let (ga, gb) = (a.grads.get(ia).ok_or(format!("no gradient for {name}"))?, b.grads.get(ib).ok_or(format!("no gradient for {name}"))?);
        pairs.push((format!("grad.{name}"), to_f64(ga)?, to_f64(gb)?));
    }
    let (mut worst_norm, mut worst_max) = (0f64, 0f64);
    let mut out = serde_json::Map::new();
    for (name, va, vb) in pairs {
        let (n, m) = (rel_norm(&va, &vb), rel_diff(&va, &vb));
        worst_norm = worst_norm.max(n);
        worst_max = worst_max.max(m);
        out.insert(name, json!({"norm": n, "max": m}));
    }
    Ok((worst_norm, worst_max, Value::Object(out)))
}

/// f64 copies (on the CPU) of `nets` and of a batch: the float64 reference of the parity section.
fn to_f64_nets(shape: &Shape, nets: &Networks) -> Res<Networks> {
    let nets64 = Networks::new(shape, &mut ChaCha8Rng::seed_from_u64(0), DType::F64, &Device::Cpu)?;
    let data = nets.varmap.data().lock().expect("varmap lock");
    for (name, var) in data.iter() {
        nets64.set(name, var.as_tensor())?;
    }
    Ok(nets64)
}

fn parity(args: &Args, device: &Device, x: &[f32]) -> Res<Value> {
    let shape = model_shape(args.quick);
    let p = if args.quick { 256 } else { 1000 };
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let host = parity_batch(x, p, shape.n_clusters, shape.latent_dim, &mut rng)?;
    let dev_batch = host.to(device)?;
    let nets_cpu = networks(&shape, 5, &Device::Cpu)?;
    let nets_dev = networks(&shape, 5, device)?;
    let nets_64 = to_f64_nets(&shape, &nets_cpu)?;
    let (ids_cpu, ids_dev, ids_64) = (named_ids(&nets_cpu), named_ids(&nets_dev), named_ids(&nets_64));
    let host_64 = Owned {
        x: host.x.to_dtype(DType::F64)?,
        targets: host.targets.to_dtype(DType::F64)?,
        s: host.s.to_dtype(DType::F64)?,
        prior: host.prior.to_dtype(DType::F64)?,
        eps: host.eps.to_dtype(DType::F64)?,
    };
    let mut report = json!({
        "batch": p, "hidden": shape.hidden, "reference": "cpu (f32); float64 cpu as the independent reference",
        "metric": "rel_diff = ||device - cpu|| / ||cpu|| per tensor (loss, terms, gamma, each gradient), the largest over the tensors; max_elem_rel_diff = max |device - cpu| / max |cpu| likewise (reported, not judged: a ReLU input that rounds across zero flips one unit's gradient for one row)",
    });
    let mut pass = true;
    for likelihood in [Likelihood::Bernoulli, Likelihood::Gaussian] {
        let lname = if likelihood == Likelihood::Bernoulli { "bernoulli" } else { "gaussian" };
        let want = dgg_step(&nets_cpu, likelihood, &host.batch())?;
        let want_64 = dgg_step(&nets_64, likelihood, &host_64.batch())?;
        set_tf32(false);
        let got = dgg_step(&nets_dev, likelihood, &dev_batch.batch())?;
        let (worst, worst_max, detail) = compare_steps(&got, &ids_dev, &want, &ids_cpu)?;
        let ok = worst <= 1e-4;
        pass &= ok;
        // Both f32 results against float64: shows which of the two parts from it, and by how much.
        let (dev_64, dev_64_max, _) = compare_steps(&got, &ids_dev, &want_64, &ids_64)?;
        let (cpu_64, cpu_64_max, _) = compare_steps(&want, &ids_cpu, &want_64, &ids_64)?;
        report[lname] = json!({"tf32": tf32(), "tolerance": 1e-4, "rel_diff": worst, "max_elem_rel_diff": worst_max, "pass": ok,
            "loss_cpu": want.total, "loss_device": got.total, "loss_f64": want_64.total,
            "against_f64": {"device": {"rel_diff": dev_64, "max_elem_rel_diff": dev_64_max}, "cpu": {"rel_diff": cpu_64, "max_elem_rel_diff": cpu_64_max}},
            "detail": detail});

        // The same step with TF32 allowed in the f32 GEMMs (a no-op on the CPU).
        set_tf32(true);
        let got32 = dgg_step(&nets_dev, likelihood, &dev_batch.batch())?;
        let tf32_on = tf32();
        set_tf32(false);
        let (worst32, worst32_max, detail32) = compare_steps(&got32, &ids_dev, &want, &ids_cpu)?;
        let ok32 = worst32 <= 1e-2;
        pass &= ok32;
        report[format!("{lname}_tf32")] =
            json!({"tf32": tf32_on, "tolerance": 1e-2, "rel_diff": worst32, "max_elem_rel_diff": worst32_max, "pass": ok32, "detail": detail32});

        // Explicit gradients against candle's autograd of the same loss, on the device.
        let loss = dgg_loss(&nets_dev, likelihood, &dev_batch.batch())?;
        let store = loss.total.backward()?;
        let data = nets_dev.varmap.data().lock().expect("varmap lock");
        let mut worst_ag = rel_diff(&[got.total], &to_f64(&loss.total)?);
        let mut names: Vec<&String> = data.keys().collect();
        names.sort();
        let mut detail_ag = serde_json::Map::new();
        for name in names {
            let var = &data[name];
            let ag = store.get(var.as_tensor()).ok_or(format!("autograd: no gradient for {name}"))?;
            let r = rel_diff(&to_f64(&got.grads[&var.as_tensor().id()])?, &to_f64(ag)?);
            worst_ag = worst_ag.max(r);
            detail_ag.insert(name.clone(), json!(r));
        }
        let ok_ag = worst_ag <= 1e-4;
        pass &= ok_ag;
        report[format!("{lname}_explicit_vs_autograd_on_device")] = json!({"tolerance": 1e-4, "max_rel_diff": worst_ag, "pass": ok_ag, "detail": detail_ag});
    }
    // Where the f32 results part from float64: ReLU units of the encoder trunk that are active
    // in one and not in the other (each flips one unit's gradient for one row).
    let active = |nets: &Networks, x: &Tensor| -> Res<Vec<Vec<u8>>> {
        let (_, trace) = nets.encoder.trunk.forward_trace(x)?;
        trace.outputs().iter().map(|y| Ok(y.gt(0.0)?.to_device(&Device::Cpu)?.flatten_all()?.to_vec1::<u8>()?)).collect()
    };
    let flips = |a: &[Vec<u8>], b: &[Vec<u8>]| -> Vec<usize> { a.iter().zip(b).map(|(a, b)| a.iter().zip(b).filter(|(x, y)| x != y).count()).collect() };
    let reference = active(&nets_64, &host_64.x)?;
    report["encoder_relu_flips_against_f64"] = json!({
        "cpu": flips(&active(&nets_cpu, &host.x)?, &reference),
        "device": flips(&active(&nets_dev, &dev_batch.x)?, &reference),
        "units_per_layer": shape.hidden.iter().map(|h| h * p).collect::<Vec<_>>(),
    });
    let adam = adam_parity(device)?;
    pass &= adam["pass"].as_bool().unwrap_or(false);
    report["adam"] = adam;
    report["pass"] = json!(pass);
    Ok(report)
}

/// The optimiser on the device (the fused CUDA kernel in a CUDA build) against the fused CPU
/// update, the reference: the same parameters and gradients, five steps, two tensor sizes (a
/// large one, and an odd-sized one whose last thread block is partly idle).
fn adam_parity(device: &Device) -> Res<Value> {
    use candle_core::Var;
    use candle_nn::ParamsAdamW;
    use dgg_graph::optim::{Adam, Grads};
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    let shapes = [(700usize, 1000usize), (1, 1237)];
    let init: Vec<Vec<f32>> = shapes.iter().map(|(r, c)| (0..r * c).map(|_| rng.gen_range(-0.5f32..0.5)).collect()).collect();
    let make =
        |dev: &Device| -> Res<Vec<Var>> { shapes.iter().zip(&init).map(|(&shape, v)| Ok(Var::from_tensor(&Tensor::from_slice(v, shape, dev)?)?)).collect() };
    let (cpu_vars, dev_vars) = (make(&Device::Cpu)?, make(device)?);
    let params = ParamsAdamW { lr: 1e-3, weight_decay: 1e-4, ..Default::default() };
    let mut cpu_opt = Adam::new(cpu_vars.clone(), params.clone())?;
    let mut dev_opt = Adam::new(dev_vars.clone(), params)?;
    for step in 0..5 {
        // Gradients over several magnitudes, so that eps and the bias corrections both matter.
        let scale = [1.0f32, 1e-2, 1e-4, 3.0, 1e-6][step];
        let (mut gc, mut gd) = (Grads::new(), Grads::new());
        for ((cv, dv), &shape) in cpu_vars.iter().zip(&dev_vars).zip(&shapes) {
            let g: Vec<f32> = (0..shape.0 * shape.1).map(|_| scale * rng.gen_range(-1f32..1.0)).collect();
            let g = Tensor::from_vec(g, shape, &Device::Cpu)?;
            gd.insert(dv.id(), g.to_device(device)?);
            gc.insert(cv.id(), g);
        }
        cpu_opt.apply(&gc)?;
        dev_opt.apply(&gd)?;
    }
    let (mut worst, mut moved) = (0f64, 0f64);
    for ((cv, dv), start) in cpu_vars.iter().zip(&dev_vars).zip(&init) {
        let (c, d) = (to_f64(cv.as_tensor())?, to_f64(dv.as_tensor())?);
        let max_abs = |v: &mut dyn Iterator<Item = f64>| v.fold(0f64, |m, x| m.max(x.abs()));
        let step = max_abs(&mut c.iter().zip(start).map(|(a, b)| a - *b as f64));
        moved = moved.max(step);
        // Differences relative to how far the parameters moved (not to their size).
        worst = worst.max(ratio(max_abs(&mut c.iter().zip(&d).map(|(a, b)| a - b)), step));
    }
    let ok = worst <= 1e-4 && moved > 0.0;
    Ok(json!({"steps": 5, "sizes": [700_000, 1237], "metric": "max |device - cpu| / max |cpu - start| over the parameters after 5 steps",
        "max_rel_diff": worst, "tolerance": 1e-4, "largest_move": moved, "pass": ok}))
}

/// Mean seconds of `reps` calls of `f`, synchronising the device around them.
fn time<T>(device: &Device, reps: usize, mut f: impl FnMut() -> Res<T>) -> Res<f64> {
    sync(device)?;
    let t = Instant::now();
    for _ in 0..reps {
        f()?;
    }
    sync(device)?;
    Ok(t.elapsed().as_secs_f64() / reps as f64)
}

fn epochs(args: &Args, device: &Device, x: &[f32], n: usize) -> Res<Value> {
    let d = 784;
    let shape = model_shape(args.quick);
    let (m, k, nbrs) = (shape.latent_dim, shape.n_clusters, 20);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let nets = Networks::new(&shape, &mut rng, DType::F32, device)?;
    let graph = dgg_benches::random_graph(n, nbrs, &mut rng)?;
    let reverse = graph.reverse();
    let (targets, s) = graph_targets(&x[..n * d], d, &reverse);
    let xt = Tensor::from_slice(&x[..n * d], (n, d), device)?;
    let targets = Tensor::from_vec(targets, (n, d), device)?;
    let s = Tensor::from_vec(s, (n, 1), device)?;
    let data = DggData { x: &xt, targets: &targets, s: &s, graph: &graph, reverse: &reverse };
    let mut gamma = GammaTable { k, values: vec![1.0 / k as f32; n * k] };
    let mut runs = Vec::new();
    for (i, &batch) in args.batches.iter().enumerate() {
        let batch = batch.min(n);
        // The parts of one step, after a warm-up (kernel loading, cuBLAS handles, allocator).
        let idx: Vec<u32> = (0..batch as u32).collect();
        let it = Tensor::from_slice(&idx, batch, device)?;
        let (xb, tb, sb) = (xt.index_select(&it, 0)?, targets.index_select(&it, 0)?, s.index_select(&it, 0)?);
        let prior = Tensor::zeros((batch, k), DType::F32, device)?;
        let eps = normal(&mut rng, batch, m, device)?;
        let b = Batch { x: &xb, targets: &tb, s: &sb, prior: &prior, eps: &eps };
        let warm = time(device, 3, || Ok(dgg_step(&nets, Likelihood::Bernoulli, &b)?))?;
        let step_s = time(device, 5, || Ok(dgg_step(&nets, Likelihood::Bernoulli, &b)?))?;
        let forward_s = time(device, 5, || Ok(dgg_loss(&nets, Likelihood::Bernoulli, &b)?.total.to_scalar::<f32>()?))?;
        let out = dgg_step(&nets, Likelihood::Bernoulli, &b)?;
        let vars = vars_with_prefix(&nets.varmap, &["encoder.", "decoder.", "classifier.", "gmm."]);
        let mut opt = dgg_core::optim::Adam::new(vars, candle_nn::ParamsAdamW { lr: 1e-9, weight_decay: 1e-4, ..Default::default() })?;
        let optimiser_s = time(device, 5, || Ok(opt.apply(&out.grads)?))?;

        // Full epochs through the training loop (every step reads gamma back: it syncs).
        let phase = Phase { name: "dgg", epochs: args.timed_epochs, batch_size: batch, lr: 1e-4, lr_step: 0, lr_gamma: 1.0, weight_decay: 1e-4 };
        let mut history = Vec::new();
        sync(device)?;
        train_dgg(&nets, Likelihood::Bernoulli, &data, &mut gamma, &phase, false, &mut rng, &Control::none(), &mut history)?;
        let secs: Vec<f64> = history.iter().map(|h| h.seconds).collect();
        let mut run = json!({
            "batch": batch, "steps_per_epoch": n.div_ceil(batch), "tf32": tf32(),
            "seconds_per_epoch": secs.iter().sum::<f64>() / secs.len() as f64, "epoch_seconds": secs,
            "step_parts_seconds": {"first_steps_warmup": warm, "forward": forward_s, "forward_and_gradients": step_s, "optimiser": optimiser_s},
            "last_epoch_loss": history.last().and_then(|h| h.losses.first()).map(|l| l.1),
        });
        if i == 0 {
            set_tf32(true);
            let mut h32 = Vec::new();
            let one = Phase { epochs: 1, ..phase };
            let tf32_on = tf32();
            let r = train_dgg(&nets, Likelihood::Bernoulli, &data, &mut gamma, &one, false, &mut rng, &Control::none(), &mut h32);
            set_tf32(false);
            r?;
            run["tf32_on"] = json!({"tf32": tf32_on, "seconds_per_epoch": h32[0].seconds});
        }
        eprintln!("epoch: batch {batch}: {:.3} s/epoch", run["seconds_per_epoch"].as_f64().unwrap_or(f64::NAN));
        runs.push(run);
    }
    Ok(json!({"n": n, "d": d, "neighbours": nbrs, "hidden": shape.hidden, "likelihood": "bernoulli", "runs": runs}))
}

#[derive(Default)]
struct FitWatch {
    last: Option<(String, usize, usize, usize, usize)>,
    /// Per (phase, epoch) in order: seconds since the start of the fit at its first and last
    /// progress record, and the number of records (batches, or chunks for "knn").
    spans: Vec<(String, usize, f64, f64, usize)>,
    /// Per phase: the least and most device memory in use (MiB) at the start of its epochs.
    memory: std::collections::BTreeMap<String, (f64, f64)>,
}

fn fit(args: &Args, device_choice: DeviceChoice, x: &[f32], labels: &[u32], n: usize) -> Res<Value> {
    let d = 784;
    let mut cfg = Config { n_clusters: 10, device: device_choice, batch_size: args.fit_batch, ..Config::default() };
    if args.quick {
        cfg.hidden = vec![64, 64, 128];
        cfg.epochs = dgg_core::config::Epochs { layerwise: 1, pretrain: 2, vae: 0, siamese: 1, classifier: 2, dgg: 2 };
        cfg.neighbours = 10;
    }
    if let Some(g) = &args.graph {
        cfg.graph = serde_json::from_value(json!(g)).map_err(|e| format!("--graph {g}: {e}"))?;
    }
    if let Some(p) = &args.siamese_positives {
        cfg.siamese_positives = serde_json::from_value(json!(p)).map_err(|e| format!("--siamese-positives {p}: {e}"))?;
    }
    if let Some(seed) = args.seed {
        cfg.seed = seed;
    }
    if let Some(b) = args.dgg_batch {
        cfg.dgg_batch_size = Some(b);
    }
    for (name, v) in &args.epochs {
        let e = &mut cfg.epochs;
        *match name.as_str() {
            "layerwise" => &mut e.layerwise,
            "pretrain" => &mut e.pretrain,
            "siamese" => &mut e.siamese,
            "classifier" => &mut e.classifier,
            _ => &mut e.dgg,
        } = *v;
    }
    if let Some(p) = &args.patch {
        cfg = dgg_benches::patch_config(&cfg, p)?;
    }
    let cancel = AtomicBool::new(false);
    let watch = Mutex::new(FitWatch::default());
    let started = Instant::now();
    let budget = args.fit_budget_s;
    let report = |p: &Progress| {
        let t = started.elapsed().as_secs_f64();
        if t > budget {
            cancel.store(true, Ordering::Relaxed);
        }
        let mut w = watch.lock().expect("watch lock");
        match w.spans.last_mut() {
            Some(span) if span.0 == p.phase && span.1 == p.epoch => {
                span.3 = t;
                span.4 += 1;
            }
            _ => {
                w.spans.push((p.phase.to_string(), p.epoch, t, t, 1));
                if let Some(mib) = device_used_mib() {
                    let e = w.memory.entry(p.phase.to_string()).or_insert((mib, mib));
                    *e = (e.0.min(mib), e.1.max(mib));
                }
            }
        }
        w.last = Some((p.phase.to_string(), p.epoch, p.epochs, p.batch, p.batches));
    };
    let ctl = Control { progress: Some(&report), cancel: Some(&cancel) };
    let result = dgg_core::fit(&x[..n * d], n, d, &cfg, None, &ctl);
    let seconds = started.elapsed().as_secs_f64();
    let w = watch.into_inner().expect("watch lock");
    // Time spent in each phase's epochs, from the progress records (complete even when cancelled).
    let mut per_phase = serde_json::Map::new();
    for (phase, _, first, last, records) in &w.spans {
        let e = per_phase.entry(phase.clone()).or_insert_with(|| json!({"epochs": 0, "seconds": 0.0, "records": 0}));
        e["epochs"] = json!(e["epochs"].as_u64().unwrap_or(0) + 1);
        e["seconds"] = json!(e["seconds"].as_f64().unwrap_or(0.0) + (last - first));
        e["records"] = json!(e["records"].as_u64().unwrap_or(0) + *records as u64);
    }
    let mut report = json!({
        "n": n, "config": serde_json::to_value(&cfg)?, "budget_seconds": budget, "seconds": seconds,
        "epochs_seen": per_phase,
        "note": "epochs_seen: per phase, the epochs that reported progress and the seconds from the first to the last progress record of each (one batch short of the epoch's time); device_used_mib: per phase, the least and most device memory in use at the start of its epochs",
        "device_used_mib": w.memory.iter().map(|(k, (lo, hi))| (k.clone(), json!([lo, hi]))).collect::<serde_json::Map<_, _>>(),
    });
    match result {
        Ok(out) => {
            let truth: Vec<i64> = labels[..n].iter().map(|&l| l as i64).collect();
            let pred: Vec<i64> = out.labels.iter().map(|&l| l as i64).collect();
            let s = dgg_core::metrics::evaluate(&pred, &truth)?;
            report["completed"] = json!(true);
            report["device"] = json!(out.device);
            report["device_reason"] = json!(out.device_reason);
            report["acc"] = json!(s.acc);
            report["nmi"] = json!(s.nmi);
            report["ari"] = json!(s.ari);
            report["warnings"] = json!(out.warnings);
            report["phase_seconds"] = Value::Object(out.timings.iter().map(|(p, t)| (p.clone(), json!(t))).collect());
            if let Some(g) = &out.graph {
                report["graph_purity"] = json!(g.purity(&labels[..n]).ok());
            }
            let mut hist = serde_json::Map::new();
            for h in &out.history {
                let e = hist.entry(h.phase.clone()).or_insert_with(|| json!({"epochs": 0, "seconds": 0.0}));
                e["epochs"] = json!(e["epochs"].as_u64().unwrap_or(0) + 1);
                e["seconds"] = json!(e["seconds"].as_f64().unwrap_or(0.0) + h.seconds);
                e["last_losses"] = json!(h.losses);
            }
            report["training_phases"] = Value::Object(hist);
        }
        Err(e) => {
            report["completed"] = json!(false);
            report["error"] = json!(e.to_string());
            report["cancelled_by_budget"] = json!(cancel.load(Ordering::Relaxed));
            report["last_progress"] = json!(w.last);
        }
    }
    Ok(report)
}

fn write_json(path: &Path, value: &Value) {
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let tmp = path.with_extension("json.tmp");
    match std::fs::write(&tmp, format!("{}\n", serde_json::to_string_pretty(value).unwrap_or_default())).and_then(|_| std::fs::rename(&tmp, path)) {
        Ok(()) => {}
        Err(e) => eprintln!("error: writing {}: {e}", path.display()),
    }
}

/// Runs one section, recording its result (or its error or panic) and its wall time.
fn section(report: &mut Value, out: &Path, name: &str, f: impl FnOnce() -> Res<Value>) {
    eprintln!("== {name}");
    let t = Instant::now();
    let mut v = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => json!({"error": e.to_string()}),
        Err(p) => {
            json!({"error": format!("panic: {}", p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default())})
        }
    };
    v["section_seconds"] = json!(t.elapsed().as_secs_f64());
    eprintln!("{name}: {}", if v.get("error").is_some() { v["error"].to_string() } else { format!("done in {:.1} s", t.elapsed().as_secs_f64()) });
    report[name] = v;
    write_json(out, report);
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2)
        }
    };
    let started = Instant::now();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string()))
        .unwrap_or_default();
    let mut report = json!({
        "bench": "gpu_check",
        "cuda_compiled": dgg_core::device::cuda_compiled(),
        "cuda_compute_cap": option_env!("CUDA_COMPUTE_CAP"),
        "cudarc_cuda_version": option_env!("CUDARC_CUDA_VERSION"),
        "quick": args.quick,
        "tf32_default": tf32(),
        "host": format!("{} cores, {cpu}", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)),
        "args": std::env::args().skip(1).collect::<Vec<_>>(),
    });
    let choice = if args.device == "cpu" { DeviceChoice::Cpu } else { DeviceChoice::Cuda };
    let t = Instant::now();
    let device = match dgg_core::device::select(choice) {
        Ok((d, reason)) => {
            report["device"] = json!(dgg_core::device::name(&d));
            report["device_reason"] = json!(reason);
            report["device_open_seconds"] = json!(t.elapsed().as_secs_f64());
            d
        }
        Err(e) => {
            report["device"] = json!(null);
            report["error"] = json!(format!("no device: {e}"));
            write_json(&args.out, &report);
            eprintln!("error: {e}");
            std::process::exit(1)
        }
    };
    let (x, labels) = match load_mnist(&args.mnist) {
        Ok(v) => v,
        Err(e) => {
            report["error"] = json!(format!("MNIST: {e}"));
            write_json(&args.out, &report);
            eprintln!("error: MNIST: {e}");
            std::process::exit(1)
        }
    };
    let n = if args.quick { 3000.min(labels.len()) } else { labels.len() };
    report["n"] = json!(n);
    write_json(&args.out, &report);
    for name in args.sections.clone() {
        match name.as_str() {
            "parity" => section(&mut report, &args.out, "parity", || parity(&args, &device, &x)),
            "epoch" => section(&mut report, &args.out, "epoch", || epochs(&args, &device, &x, n)),
            "fit" => section(&mut report, &args.out, "fit", || fit(&args, choice, &x, &labels, n)),
            other => eprintln!("unknown section '{other}' (parity, epoch, fit)"),
        }
    }
    report["total_seconds"] = json!(started.elapsed().as_secs_f64());
    write_json(&args.out, &report);
    let ok = report["parity"]["pass"].as_bool().unwrap_or(true) && ["parity", "epoch", "fit"].iter().all(|s| report[s].get("error").is_none());
    println!("{}", serde_json::to_string(&report).unwrap_or_default());
    std::process::exit(if ok { 0 } else { 1 })
}
