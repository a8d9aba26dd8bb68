//! `npm run bench:suite -- [--seeds N] [--sets a,b] [--methods dgg,kmeans,umap_gmm] [--data-dir DIR]`:
//! the development suite (benches/suite.json). For each set, over seeds: the default fit with only K
//! given (as `npx dgg-native fit FILE --k K` runs it), the project's k-means, and UMAP followed by a
//! full-covariance GMM (benches/peers/umap_gmm.py, from the venv that benches/peers/setup.sh creates;
//! skipped with a message when it is absent). ACC, NMI and ARI come from one scorer for all methods.
//!
//! Writes benches/results/suite-<set>.json per set and benches/results/suite.json for the run, and
//! prints one JSON line per run, then the summary (last): `acc_mean` per set and method, `wins` (the
//! sets where dgg's mean beats umap_gmm's), `sets` and `mean_margin` (dgg minus umap_gmm, averaged).
//!
//! Research flags (their results go to files tagged with `--tag`, never to the default names):
//! `--sets mnist:N` runs MNIST's first N rows. `--override JSON` merges JSON into the fit's `Config` (serde names, e.g. '{"epochs":{"dgg":0}}').

use dgg_benches::datasets::{self, Dataset};
use dgg_core::config::Config;
use dgg_core::metrics::evaluate;
use serde_json::{json, Value};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(2)
}

struct Run {
    seed: u64,
    acc: f64,
    nmi: f64,
    ari: f64,
    seconds: f64,
    peak_rss_mb: Option<f64>,
    extra: Value,
}

fn score(pred: &[u32], data: &Dataset) -> (f64, f64, f64) {
    let p: Vec<i64> = pred.iter().map(|&l| l as i64).collect();
    let t: Vec<i64> = data.labels.iter().map(|&l| l as i64).collect();
    let s = evaluate(&p, &t).expect("same length");
    (s.acc, s.nmi, s.ari)
}

fn dgg_runs(data: &Dataset, seeds: &[u64], patch: Option<&Value>) -> Vec<Run> {
    let verbose = std::env::var("DGG_VERBOSE").is_ok();
    let report = |p: &dgg_graph::Progress| {
        if verbose && p.batch == p.batches {
            eprintln!("  {} {}/{} {:?}", p.phase, p.epoch, p.epochs, p.losses);
        }
    };
    seeds
        .iter()
        .map(|&seed| {
            let mut cfg = Config { n_clusters: data.k, seed, ..Config::default() };
            if let Some(p) = patch {
                cfg = dgg_benches::patch_config(&cfg, p).unwrap_or_else(|e| fail(e));
            }
            let ctl = dgg_graph::Control { progress: Some(&report), cancel: None };
            let started = Instant::now();
            let out = dgg_core::fit(&data.x, data.n, data.d, &cfg, None, &ctl).unwrap_or_else(|e| fail(format!("{}: {e}", data.name)));
            let seconds = started.elapsed().as_secs_f64();
            let (acc, nmi, ari) = score(&out.labels, data);
            let phases: serde_json::Map<String, Value> = out.timings.iter().map(|(p, s)| (p.clone(), json!(s))).collect();
            let mut extra = json!({ "phases": phases });
            if let Some(g) = &out.graph {
                extra["graph_purity"] = json!(g.purity(&data.labels).ok());
            }
            let used = {
                let mut c = vec![0usize; data.k];
                out.labels.iter().for_each(|&l| c[l as usize] += 1);
                c.iter().filter(|&&v| v > 0).count()
            };
            extra["clusters_used"] = json!(used);
            extra["warnings"] = json!(out.warnings);
            // The DGG phase's modularity per epoch (what keepBest chooses by), for studies of when it peaks.
            let q: Vec<f64> = out
                .history
                .iter()
                .filter(|r| r.phase == "dgg")
                .filter_map(|r| r.losses.iter().find(|(name, _)| name == "modularity").map(|(_, v)| *v))
                .collect();
            extra["dgg_modularity"] = json!(q);
            Run { seed, acc, nmi, ari, seconds, peak_rss_mb: dgg_benches::peak_rss_mb(), extra }
        })
        .collect()
}

fn kmeans_runs(data: &Dataset, seeds: &[u64]) -> Vec<Run> {
    let cfg = Config::default();
    let scaled = dgg_core::data::Scaler::fit(cfg.scale, &data.x, data.n, data.d).apply(&data.x, data.d).into_owned();
    seeds
        .iter()
        .map(|&seed| {
            let started = Instant::now();
            let labels = dgg_core::kmeans::kmeans(&scaled, data.n, data.d, data.k, 10, seed).labels;
            let seconds = started.elapsed().as_secs_f64();
            let (acc, nmi, ari) = score(&labels, data);
            Run { seed, acc, nmi, ari, seconds, peak_rss_mb: None, extra: json!({}) }
        })
        .collect()
}

/// The Python interpreter of benches/peers/.venv, when it exists.
fn peer_python(root: &Path) -> Option<PathBuf> {
    let p = root.join("benches/peers/.venv/bin/python");
    p.exists().then_some(p)
}

/// Writes `x` (N x D) as a float32 .npy file.
fn write_npy(path: &Path, x: &[f32], n: usize, d: usize) -> std::io::Result<()> {
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({n}, {d}), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    f.write_all(b"\x93NUMPY\x01\x00")?;
    f.write_all(&(header.len() as u16).to_le_bytes())?;
    f.write_all(header.as_bytes())?;
    for v in x {
        f.write_all(&v.to_le_bytes())?;
    }
    f.flush()
}

fn umap_gmm_runs(python: &Path, root: &Path, data: &Dataset, seeds: &[u64]) -> Result<Vec<Run>, String> {
    let dir = std::env::temp_dir().join(format!("dgg-suite-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let npy = dir.join(format!("{}.npy", data.name.replace(':', "-")));
    write_npy(&npy, &data.x, data.n, data.d).map_err(|e| e.to_string())?;
    let seed_list: Vec<String> = seeds.iter().map(u64::to_string).collect();
    let mut child = std::process::Command::new(python)
        .arg(root.join("benches/peers/umap_gmm.py"))
        .arg(&npy)
        .args(["--k", &data.k.to_string(), "--seeds", &seed_list.join(",")])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e}", python.display()))?;
    let mut runs = Vec::new();
    for line in std::io::BufReader::new(child.stdout.take().expect("piped")).lines() {
        let v: Value = serde_json::from_str(&line.map_err(|e| e.to_string())?).map_err(|e| format!("umap_gmm.py: {e}"))?;
        let labels: Vec<u32> = v["labels"].as_array().ok_or("umap_gmm.py: no labels")?.iter().map(|l| l.as_u64().unwrap_or(0) as u32).collect();
        if labels.len() != data.n {
            return Err(format!("umap_gmm.py: {} labels for {} rows", labels.len(), data.n));
        }
        let (acc, nmi, ari) = score(&labels, data);
        runs.push(Run {
            seed: v["seed"].as_u64().unwrap_or(0),
            acc,
            nmi,
            ari,
            seconds: v["seconds"].as_f64().unwrap_or(f64::NAN),
            peak_rss_mb: v["peak_rss_mb"].as_f64(),
            extra: json!({}),
        });
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    let _ = std::fs::remove_dir_all(&dir);
    if !status.success() || runs.len() != seeds.len() {
        return Err(format!("umap_gmm.py exited with {status} after {} of {} seeds", runs.len(), seeds.len()));
    }
    Ok(runs)
}

fn mean_std(v: &[f64]) -> (f64, f64) {
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    let var = if v.len() > 1 { v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (v.len() - 1) as f64 } else { 0.0 };
    (mean, var.sqrt())
}

fn summarise(runs: &[Run]) -> Value {
    let col = |f: fn(&Run) -> f64| runs.iter().map(f).collect::<Vec<_>>();
    let (acc, acc_std) = mean_std(&col(|r| r.acc));
    let (nmi, nmi_std) = mean_std(&col(|r| r.nmi));
    let (ari, ari_std) = mean_std(&col(|r| r.ari));
    let (seconds, _) = mean_std(&col(|r| r.seconds));
    let rss = runs.iter().filter_map(|r| r.peak_rss_mb).fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
    json!({
        "acc_mean": acc, "acc_std": acc_std, "nmi_mean": nmi, "nmi_std": nmi_std, "ari_mean": ari, "ari_std": ari_std,
        "seconds_mean": seconds, "peak_rss_mb": rss,
        "runs": runs.iter().map(|r| json!({"seed": r.seed, "acc": r.acc, "nmi": r.nmi, "ari": r.ari, "seconds": r.seconds, "peak_rss_mb": r.peak_rss_mb, "extra": r.extra})).collect::<Vec<_>>(),
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let table = datasets::suite(&root).unwrap_or_else(|e| fail(e));
    let n_seeds: u64 = arg(&args, "--seeds").map(|s| s.parse().unwrap_or_else(|_| fail(format!("--seeds must be a positive integer, got '{s}'")))).unwrap_or(3);
    let first: u64 =
        arg(&args, "--first-seed").map(|s| s.parse().unwrap_or_else(|_| fail(format!("--first-seed must be an integer, got '{s}'")))).unwrap_or(42);
    let seeds: Vec<u64> = (first..first + n_seeds).collect();
    let sets: Vec<String> = match arg(&args, "--sets") {
        Some(s) => s.split(',').map(String::from).collect(),
        None => table.iter().map(|e| e.name.clone()).collect(),
    };
    for s in &sets {
        if !table.iter().any(|e| &e.name == s) && !s.starts_with("mnist:") {
            fail(format!("unknown set '{s}' (benches/suite.json lists {})", table.iter().map(|e| e.name.as_str()).collect::<Vec<_>>().join(", ")));
        }
    }
    let methods: Vec<String> = arg(&args, "--methods").unwrap_or_else(|| "dgg,kmeans,umap_gmm".into()).split(',').map(String::from).collect();
    for m in &methods {
        if !["dgg", "kmeans", "umap_gmm"].contains(&m.as_str()) {
            fail(format!("unknown method '{m}' (dgg, kmeans, umap_gmm)"));
        }
    }
    let patch: Option<Value> = arg(&args, "--override").map(|s| serde_json::from_str(&s).unwrap_or_else(|e| fail(format!("--override: {e}"))));
    let tag = arg(&args, "--tag");
    if patch.is_some() && tag.is_none() {
        fail("--override needs --tag NAME: its results must not replace the defaults' files");
    }
    let suffix = tag.as_ref().map(|t| format!("-{t}")).unwrap_or_default();
    let data_dir = datasets::data_dir(&args);
    let python = peer_python(&root);
    if methods.iter().any(|m| m == "umap_gmm") && python.is_none() {
        eprintln!("umap_gmm: skipped (no benches/peers/.venv; run benches/peers/setup.sh to create it)");
    }
    let mut acc_mean = serde_json::Map::new();
    let mut wins = Vec::new();
    let mut margins = Vec::new();
    for name in &sets {
        let data = datasets::load(name, &root, data_dir.as_deref()).unwrap_or_else(|e| fail(e));
        eprintln!("{name}: {} x {}, k = {}", data.n, data.d, data.k);
        let mut per = serde_json::Map::new();
        for m in &methods {
            let runs = match m.as_str() {
                "dgg" => dgg_runs(&data, &seeds, patch.as_ref()),
                "kmeans" => kmeans_runs(&data, &seeds),
                _ => match &python {
                    None => continue,
                    Some(py) => umap_gmm_runs(py, &root, &data, &seeds).unwrap_or_else(|e| fail(e)),
                },
            };
            for r in &runs {
                println!(
                    "{}",
                    json!({"set": name, "method": m, "seed": r.seed, "acc": r.acc, "nmi": r.nmi, "ari": r.ari, "seconds": r.seconds, "extra": r.extra})
                );
            }
            per.insert(m.clone(), summarise(&runs));
        }
        let get = |m: &str| per.get(m).map(|v| v["acc_mean"].as_f64().unwrap_or(f64::NAN));
        acc_mean.insert(name.clone(), json!(per.iter().map(|(m, v)| (m.clone(), v["acc_mean"].clone())).collect::<serde_json::Map<_, _>>()));
        if let (Some(d), Some(u)) = (get("dgg"), get("umap_gmm")) {
            margins.push(d - u);
            if d > u {
                wins.push(name.clone());
            }
        }
        let result = json!({"bench": "suite-set", "set": name, "n": data.n, "d": data.d, "k": data.k, "seeds": seeds, "override": patch, "methods": per});
        dgg_benches::write_result(&format!("suite-{}{suffix}", name.replace(':', "-")), result);
    }
    let mean_margin = if margins.is_empty() { Value::Null } else { json!(margins.iter().sum::<f64>() / margins.len() as f64) };
    let summary = json!({
        "bench": "suite", "seeds": n_seeds, "sets": sets, "acc_mean": acc_mean, "wins": wins, "compared": margins.len(), "mean_margin": mean_margin, "override": patch,
    });
    let summary = dgg_benches::write_result(&format!("suite{suffix}"), summary);
    println!("{summary}");
}
