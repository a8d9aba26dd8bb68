//! `npm run bench:accuracy -- --dataset NAME --method NAME --seeds N`: clustering quality of a method
//! on a labelled data set over several seeds. One JSON line per run, then a summary line (last).
//! Methods: kmeans (raw data, k-means++, 10 restarts), ae-kmeans (our pretrained autoencoder + k-means),
//! gmm (diagonal, on the raw data or PCA-50 when d > 64), spectral (our spectral initialisation
//! alone), dgg-none, dgg-euclidean, dgg-siamese, and dgg (the library's defaults: today the
//! Euclidean graph). `--epochs-dgg`, `--epochs-pretrain`, `--siamese-positives` ... override;
//! `--first-seed` moves the first seed from 42.

use dgg_benches::datasets;
use dgg_core::config::{Config, GraphSource};
use dgg_core::metrics::evaluate;
use serde_json::json;
use std::time::Instant;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dataset = arg(&args, "--dataset").unwrap_or_else(|| "digits".into());
    let method = arg(&args, "--method").unwrap_or_else(|| "dgg".into());
    // --graph overrides the method's graph (e.g. spectral on the Siamese graph) and names itself in
    // the method column. Checked once, before any data is loaded.
    let graph_override = match arg(&args, "--graph").as_deref() {
        Some("siamese") => Some(GraphSource::Siamese),
        Some("euclidean") => Some(GraphSource::Euclidean),
        Some(other) => {
            eprintln!("error: --graph must be siamese or euclidean, got '{other}'");
            std::process::exit(2)
        }
        None => None,
    };
    let mut label = match arg(&args, "--graph") {
        Some(g) => format!("{method} ({g} graph)"),
        None => method.clone(),
    };
    let positives = match arg(&args, "--siamese-positives").as_deref() {
        Some(p @ ("agreed" | "euclidean")) => {
            label = format!("{label}, {p} Siamese positives");
            Some(if p == "agreed" { dgg_core::config::SiamesePositives::Agreed } else { dgg_core::config::SiamesePositives::Euclidean })
        }
        Some(other) => {
            eprintln!("error: --siamese-positives must be euclidean or agreed, got '{other}'");
            std::process::exit(2)
        }
        None => None,
    };
    let dgg_batch = arg(&args, "--dgg-batch-size").map(|b| match b.parse::<usize>() {
        Ok(v) => v,
        Err(_) => {
            eprintln!("error: --dgg-batch-size must be a positive integer, got '{b}'");
            std::process::exit(2)
        }
    });
    if let Some(b) = dgg_batch {
        label = format!("{label}, DGG batch {b}");
    }
    let seeds: u64 = arg(&args, "--seeds").and_then(|s| s.parse().ok()).unwrap_or(1);
    // Seeds run from 42 unless --first-seed moves the start (to add seeds to a row, or rerun one).
    let first_seed: u64 = arg(&args, "--first-seed").and_then(|s| s.parse().ok()).unwrap_or(42);
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let data = datasets::load(&dataset, &root, datasets::data_dir(&args).as_deref()).unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(2)
    });
    let k = data.k;
    let truth: Vec<i64> = data.labels.iter().map(|&l| l as i64).collect();
    let mut runs = Vec::new();
    for seed in 0..seeds {
        let mut cfg = Config { n_clusters: k, seed: first_seed + seed, ..Config::default() };
        let u = |name: &str, v: &mut usize| {
            if let Some(x) = arg(&args, name).and_then(|s| s.parse().ok()) {
                *v = x;
            }
        };
        u("--epochs-layerwise", &mut cfg.epochs.layerwise);
        u("--epochs-pretrain", &mut cfg.epochs.pretrain);
        u("--epochs-vae", &mut cfg.epochs.vae);
        u("--epochs-siamese", &mut cfg.epochs.siamese);
        u("--epochs-classifier", &mut cfg.epochs.classifier);
        u("--epochs-dgg", &mut cfg.epochs.dgg);
        u("--batch-size", &mut cfg.batch_size);
        cfg.dgg_batch_size = dgg_batch;
        if let Some(lr) = arg(&args, "--lr-dgg").and_then(|s| s.parse().ok()) {
            cfg.lr.dgg = lr;
        }
        if let Some(lr) = arg(&args, "--lr-pretrain").and_then(|s| s.parse().ok()) {
            cfg.lr.pretrain = lr;
        }
        if arg(&args, "--classifier").as_deref() == Some("mlp") {
            cfg.classifier = dgg_core::config::ClassifierKind::Mlp;
        }
        u("--neighbours", &mut cfg.neighbours);
        if let Some(p) = positives {
            cfg.siamese_positives = p;
        }
        if arg(&args, "--weighting").as_deref() == Some("gaussian") {
            cfg.weighting = dgg_core::config::Weighting::Gaussian;
        }
        if let Some(init) = arg(&args, "--init") {
            cfg.init = if init == "kmeans" { dgg_core::config::InitMethod::Kmeans } else { dgg_core::config::InitMethod::Spectral };
        }
        let started = Instant::now();
        let (pred, timings): (Vec<u32>, serde_json::Value) = match method.as_str() {
            "kmeans" => {
                let scaled = dgg_core::data::Scaler::fit(cfg.scale, &data.x, data.n, data.d).apply(&data.x, data.d).into_owned();
                (dgg_core::kmeans::kmeans(&scaled, data.n, data.d, k, 10, cfg.seed).labels, json!({}))
            }
            "gmm" => {
                // Diagonal GMM on the scaled data, or on its 50 principal components when d > 64.
                let scaled = dgg_core::data::Scaler::fit(cfg.scale, &data.x, data.n, data.d).apply(&data.x, data.d).into_owned();
                let (x, d) = if data.d > 64 { (dgg_benches::baselines::pca(&scaled, data.n, data.d, 50), 50) } else { (scaled, data.d) };
                (dgg_benches::baselines::gmm_diag(&x, data.n, d, k, cfg.seed), json!({}))
            }
            m => {
                cfg.graph = match m {
                    "dgg-none" | "ae-kmeans" => GraphSource::None,
                    "dgg-euclidean" | "spectral" => GraphSource::Euclidean,
                    "dgg-siamese" => GraphSource::Siamese,
                    // The library's defaults, as `npx dgg-native fit` runs them.
                    "dgg" => Config::default().graph,
                    other => {
                        eprintln!("error: unknown method '{other}'");
                        std::process::exit(2)
                    }
                };
                if m == "spectral" {
                    cfg.graph = GraphSource::Euclidean;
                }
                if let Some(g) = graph_override {
                    cfg.graph = g;
                }
                if m == "ae-kmeans" || m == "spectral" {
                    cfg.epochs.dgg = 0;
                    cfg.epochs.classifier = 0;
                    // The bench clusters the output itself; the pipeline's init need not.
                    cfg.init = dgg_core::config::InitMethod::Kmeans;
                }
                let verbose = std::env::var("DGG_VERBOSE").is_ok();
                let report = |p: &dgg_graph::Progress| {
                    if verbose && p.batch == p.batches {
                        eprintln!("{} {}/{} {:?}", p.phase, p.epoch, p.epochs, p.losses);
                    }
                };
                let ctl = dgg_graph::Control { progress: Some(&report), cancel: None };
                // --checkpoint DIR makes long runs resumable. Stage files are named by what they
                // depend on, so methods and seeds share one folder per data set, and methods with
                // the same pretraining (ae-kmeans, dgg-*) reuse it.
                let ckpt = arg(&args, "--checkpoint").map(|d| std::path::PathBuf::from(d).join(&dataset));
                let out = dgg_core::fit_resumable(&data.x, data.n, data.d, &cfg, None, &ctl, ckpt.as_deref()).unwrap_or_else(|e| {
                    eprintln!("error: {e}");
                    std::process::exit(1)
                });
                let clustered = Instant::now();
                let labels = if m == "spectral" {
                    // The pipeline's own call: this row is DGG's starting partition.
                    dgg_core::pipeline::spectral_start(out.graph.as_ref().expect("graph"), &cfg)
                } else if m == "ae-kmeans" {
                    dgg_core::kmeans::kmeans(&out.embedding, data.n, cfg.latent_dim, k, 10, cfg.seed).labels
                } else {
                    out.labels
                };
                let mut t: serde_json::Map<String, serde_json::Value> = out.timings.iter().map(|(p, s)| (p.clone(), json!(s))).collect();
                if m == "spectral" || m == "ae-kmeans" {
                    t.insert(m.to_string(), json!(clustered.elapsed().as_secs_f64()));
                }
                if let Some(g) = &out.graph {
                    t.insert("graph_purity".into(), json!(g.purity(&data.labels).unwrap_or(f64::NAN)));
                }
                (labels, serde_json::Value::Object(t))
            }
        };
        let seconds = started.elapsed().as_secs_f64();
        let pred: Vec<i64> = pred.iter().map(|&l| l as i64).collect();
        let s = evaluate(&pred, &truth).expect("same length");
        let run = json!({"dataset": dataset, "method": label, "seed": cfg.seed, "acc": s.acc, "nmi": s.nmi, "ari": s.ari, "seconds": seconds, "phases": timings, "peak_rss_mb": dgg_benches::peak_rss_mb()});
        println!("{run}");
        runs.push(run);
    }
    let stat = |key: &str| -> (f64, f64) {
        let v: Vec<f64> = runs.iter().map(|r| r[key].as_f64().unwrap()).collect();
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (v.len().max(2) - 1) as f64;
        (mean, var.sqrt())
    };
    let (acc_mean, acc_std) = stat("acc");
    let summary = json!({
        "bench": "accuracy", "dataset": dataset, "method": label, "seeds": seeds, "n": data.n, "d": data.d,
        "acc_mean": acc_mean, "acc_std": acc_std, "nmi_mean": stat("nmi").0, "ari_mean": stat("ari").0, "seconds": stat("seconds").0,
        "peak_rss_mb": dgg_benches::peak_rss_mb(),
    });
    // Runs with overrides (e.g. --weighting gaussian) get their own result file.
    let mut overrides = Vec::new();
    let mut rest = args.iter().skip(1);
    while let Some(flag) = rest.next() {
        let value = rest.next().cloned().unwrap_or_default();
        if !["--dataset", "--method", "--seeds", "--checkpoint", "--data-dir"].contains(&flag.as_str()) {
            overrides.push(format!("{}-{value}", flag.trim_start_matches('-')));
        }
    }
    let name = std::iter::once(format!("accuracy-{dataset}-{method}")).chain(overrides).collect::<Vec<_>>().join("-");
    let summary = dgg_benches::write_result(&name, summary);
    println!("{summary}");
}
