//! The whole pipeline on small separable data: it clusters, it is deterministic, the NaN guard and
//! cancellation stop it with the right error, and a saved model predicts identically.

mod common;

use dgg_core::config::{Config, Epochs, GraphSource, LearningRates};
use dgg_core::kmeans::kmeans;
use dgg_core::metrics::accuracy;
use dgg_core::{fit, Model};
use dgg_graph::Control;

fn small(graph: GraphSource) -> Config {
    Config {
        n_clusters: 3,
        latent_dim: 4,
        hidden: vec![32, 32],
        graph,
        neighbours: 5,
        batch_size: 32,
        epochs: Epochs { layerwise: 1, pretrain: 10, vae: 0, siamese: 2, classifier: 10, dgg: 10 },
        // Adam moves every weight by about lr per step whatever the gradient; in a network this
        // small that moves whole clusters of the latent space, so the DGG rate is scaled down.
        lr: LearningRates { dgg: 2e-4, ..Config::default().lr },
        ..Config::default()
    }
}

fn acc(pred: &[u32], truth: &[u32]) -> f64 {
    let p: Vec<i64> = pred.iter().map(|&v| v as i64).collect();
    let t: Vec<i64> = truth.iter().map(|&v| v as i64).collect();
    accuracy(&p, &t).unwrap()
}

#[test]
fn kmeans_separates_blobs() {
    let (x, y) = common::blobs(50, 6, 1);
    let km = kmeans(&x, 150, 6, 3, 5, 0);
    assert_eq!(acc(&km.labels, &y), 1.0);
}

#[test]
fn fit_clusters_blobs_with_every_graph_source() {
    let (x, y) = common::blobs(40, 12, 2);
    for g in [GraphSource::Euclidean, GraphSource::Siamese, GraphSource::Latent, GraphSource::None] {
        let out = fit(&x, 120, 12, &small(g), None, &Control::none()).unwrap();
        let a = acc(&out.labels, &y);
        assert!(a > 0.95, "{g:?}: accuracy {a}");
    }
    let agreed = Config { siamese_positives: dgg_core::config::SiamesePositives::Agreed, ..small(GraphSource::Siamese) };
    let out = fit(&x, 120, 12, &agreed, None, &Control::none()).unwrap();
    assert!(acc(&out.labels, &y) > 0.95, "agreed positives: accuracy {}", acc(&out.labels, &y));
}

#[test]
fn a_latent_graph_needs_the_pretrained_encoder() {
    let (x, _) = common::blobs(20, 6, 4);
    let err = dgg_core::pipeline::graph_only(&x, 60, 6, &small(GraphSource::Latent), &Control::none()).unwrap_err();
    assert!(err.to_string().contains("'latent' needs the pretrained encoder"), "{err}");
}

#[test]
fn same_seed_gives_identical_labels_and_embedding() {
    let (x, _) = common::blobs(30, 9, 3);
    let cfg = small(GraphSource::Euclidean);
    let a = fit(&x, 90, 9, &cfg, None, &Control::none()).unwrap();
    let b = fit(&x, 90, 9, &cfg, None, &Control::none()).unwrap();
    assert_eq!(a.labels, b.labels);
    assert_eq!(a.embedding, b.embedding);
    let c = fit(&x, 90, 9, &Config { seed: 7, ..cfg }, None, &Control::none()).unwrap();
    assert_ne!(a.embedding, c.embedding, "a different seed must change the run");
}

#[test]
fn a_diverging_run_stops_with_the_phase_and_epoch() {
    let (x, _) = common::blobs(20, 6, 4);
    let mut cfg = small(GraphSource::Euclidean);
    cfg.lr.dgg = 1e30;
    let err = fit(&x, 60, 6, &cfg, None, &Control::none()).err().expect("must fail");
    assert_eq!(err.code(), "NON_FINITE", "{err}");
    assert!(err.to_string().contains("dgg loss became non-finite at epoch"), "{err}");
}

#[test]
fn cancellation_stops_training() {
    let (x, _) = common::blobs(20, 6, 5);
    let flag = std::sync::atomic::AtomicBool::new(false);
    let steps = std::sync::atomic::AtomicUsize::new(0);
    let report = |_: &dgg_graph::Progress| {
        if steps.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 3 {
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    };
    let ctl = Control { progress: Some(&report), cancel: Some(&flag) };
    let err = fit(&x, 60, 6, &small(GraphSource::Euclidean), None, &ctl).err().expect("must be cancelled");
    assert_eq!(err.code(), "CANCELLED");
    assert_eq!(steps.load(std::sync::atomic::Ordering::SeqCst), 4, "no step may run after the flag is set");
}

#[test]
fn a_saved_model_predicts_identically_and_bad_files_are_refused() {
    let (x, _) = common::blobs(20, 6, 6);
    let out = fit(&x, 60, 6, &small(GraphSource::None), None, &Control::none()).unwrap();
    let dir = std::env::temp_dir().join(format!("dgg-model-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("m.dgg");
    out.model.save(&path).unwrap();
    let back = Model::load(&path, &candle_core::Device::Cpu).unwrap();
    assert_eq!(back.predict_proba(&x, 60, 6).unwrap(), out.model.predict_proba(&x, 60, 6).unwrap());
    assert_eq!(back.predict(&x, 60, 6).unwrap(), out.labels);
    assert_eq!(back.transform(&x, 60, 6).unwrap(), out.embedding);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(dir.join("short.dgg"), &bytes[..bytes.len() / 2]).unwrap();
    assert_eq!(Model::load(&dir.join("short.dgg"), &candle_core::Device::Cpu).err().unwrap().code(), "MODEL_FORMAT");
    let err = back.predict(&x[..10], 2, 5).err().unwrap();
    assert_eq!(err.code(), "DIMENSION_MISMATCH");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The stage files in a checkpoint folder, by stage name, sorted.
fn stage_files(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    names
}

fn file_of(dir: &std::path::Path, stage: &str) -> std::path::PathBuf {
    let name = stage_files(dir).into_iter().find(|f| f.starts_with(&format!("{stage}-"))).unwrap_or_else(|| panic!("no {stage} file"));
    dir.join(name)
}

#[test]
fn a_fit_resumed_from_any_stage_matches_an_uninterrupted_one() {
    let (x, _) = common::blobs(30, 9, 5);
    let cfg = small(GraphSource::Euclidean);
    let whole = fit(&x, 90, 9, &cfg, None, &Control::none()).unwrap();
    let dir = std::env::temp_dir().join(format!("dgg-ckpt-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let first = dgg_core::fit_resumable(&x, 90, 9, &cfg, None, &Control::none(), Some(&dir)).unwrap();
    assert_eq!(first.embedding, whole.embedding, "checkpointing must not change the run");
    assert_eq!(stage_files(&dir).len(), 4, "{:?}", stage_files(&dir));
    for stage in ["pretrained", "graph", "initialised", "trained"] {
        file_of(&dir, stage);
    }
    // Drop the later stages, as if the process had died after the graph; the resumed run must
    // continue from the saved networks and RNG position to the same result, and keep the history.
    std::fs::remove_file(file_of(&dir, "trained")).unwrap();
    std::fs::remove_file(file_of(&dir, "initialised")).unwrap();
    let resumed = dgg_core::fit_resumable(&x, 90, 9, &cfg, None, &Control::none(), Some(&dir)).unwrap();
    assert_eq!(resumed.embedding, whole.embedding);
    assert_eq!(resumed.labels, whole.labels);
    assert_eq!(resumed.history.len(), whole.history.len());

    // Other DGG epochs: the three earlier stages are reused (one new file), and the result is the
    // one a fresh fit with those options gives.
    let longer = Config { epochs: dgg_core::config::Epochs { dgg: cfg.epochs.dgg + 2, ..cfg.epochs.clone() }, ..cfg.clone() };
    let fresh = fit(&x, 90, 9, &longer, None, &Control::none()).unwrap();
    let reused = dgg_core::fit_resumable(&x, 90, 9, &longer, None, &Control::none(), Some(&dir)).unwrap();
    assert_eq!(reused.embedding, fresh.embedding);
    assert_eq!(stage_files(&dir).len(), 5, "only a new trained stage: {:?}", stage_files(&dir));
    // Another seed reuses nothing, and leaves the first fit's files in place.
    let other = Config { seed: 9, ..cfg.clone() };
    let seeded = dgg_core::fit_resumable(&x, 90, 9, &other, None, &Control::none(), Some(&dir)).unwrap();
    assert_eq!(seeded.embedding, fit(&x, 90, 9, &other, None, &Control::none()).unwrap().embedding);
    assert_eq!(stage_files(&dir).len(), 9);
    // A stage file that does not hold what its name says is refused, not used.
    let name = |c: &Config| {
        let fp = dgg_core::checkpoint::stage_fingerprints(&x, 90, 9, c, None);
        dir.join(format!("pretrained-{}.safetensors", fp[0].1))
    };
    std::fs::copy(name(&other), name(&cfg)).unwrap();
    let err = dgg_core::fit_resumable(&x, 90, 9, &cfg, None, &Control::none(), Some(&dir)).err().expect("refused");
    assert_eq!(err.code(), "MODEL_FORMAT", "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_option_but_the_device_belongs_to_one_checkpoint_stage() {
    fn leaves(v: &serde_json::Value, at: String, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => m.iter().for_each(|(k, v)| leaves(v, format!("{at}/{k}"), out)),
            _ => out.push(at),
        }
    }
    let mut all = Vec::new();
    leaves(&serde_json::to_value(Config::default()).unwrap(), String::new(), &mut all);
    let mut claimed: Vec<String> = dgg_core::checkpoint::STAGES.iter().flat_map(|(_, keys)| keys.iter().map(|k| k.to_string())).collect();
    claimed.push("/device".into());
    all.sort();
    claimed.sort();
    assert_eq!(all, claimed);
}

#[test]
fn kmeans_keeps_the_lowest_of_its_restarts() {
    let (x, _) = common::blobs(40, 4, 7);
    let runs = dgg_core::kmeans::kmeans_runs(&x, 120, 4, 6, 8, 3);
    assert_eq!(runs.len(), 8);
    let best = dgg_core::kmeans::kmeans(&x, 120, 4, 6, 8, 3);
    let lowest = runs.iter().map(|r| r.inertia).fold(f64::INFINITY, f64::min);
    assert_eq!(best.inertia, lowest);
    // Each run's inertia is the sum of squared distances to its own centres, in f64.
    for r in &runs {
        let direct: f64 = x
            .chunks_exact(4)
            .zip(&r.labels)
            .map(|(p, &l)| p.iter().zip(&r.centres[l as usize * 4..][..4]).map(|(a, b)| ((a - b) as f64).powi(2)).sum::<f64>())
            .sum();
        assert!((direct - r.inertia).abs() < 1e-3 * direct.max(1.0), "{direct} vs {}", r.inertia);
    }
}

#[test]
fn siamese_positives_change_the_graph_stage_only_away_from_the_default() {
    let x: Vec<f32> = (0..90 * 9).map(|i| (i % 7) as f32 / 7.0).collect();
    let base = Config::default();
    let agreed = Config { siamese_positives: dgg_core::config::SiamesePositives::Agreed, ..base.clone() };
    let (a, b) = (dgg_core::checkpoint::stage_fingerprints(&x, 90, 9, &base, None), dgg_core::checkpoint::stage_fingerprints(&x, 90, 9, &agreed, None));
    assert_eq!(a[0], b[0], "pretraining does not read it");
    for s in 1..4 {
        assert_ne!(a[s], b[s], "{} depends on the graph", a[s].0);
    }
}

#[test]
fn the_dgg_batch_size_changes_the_trained_stage_only_away_from_the_default() {
    let x: Vec<f32> = (0..90 * 9).map(|i| (i % 7) as f32 / 7.0).collect();
    let base = Config::default();
    let fp = |c: &Config| dgg_core::checkpoint::stage_fingerprints(&x, 90, 9, c, None);
    let (a, b) = (fp(&base), fp(&Config { dgg_batch_size: Some(4096), ..base.clone() }));
    assert_eq!(a[..3], b[..3], "pretraining, graph and initialisation do not read it");
    assert_ne!(a[3], b[3]);
}

#[test]
fn align_runs_between_its_step_bounds() {
    use dgg_core::pipeline::{align_epochs, ALIGN_MAX_STEPS, ALIGN_MIN_STEPS};
    // 0 stays 0 (no classifier phase).
    assert_eq!(align_epochs(0, 5), 0);
    // 40 epochs of 2 batches are 80 steps: stretched to 400.
    assert_eq!(align_epochs(40, 2), ALIGN_MIN_STEPS / 2);
    // 40 epochs of 9 batches (360 steps): stretched to 45 epochs (405 steps).
    assert_eq!(align_epochs(40, 9), 45);
    // MNIST at batch 256: 274 batches, 40 epochs would be 10,960 steps; cut to 6 epochs.
    assert_eq!(align_epochs(40, 274), ALIGN_MAX_STEPS.div_ceil(274));
    // In between, the epochs asked for.
    assert_eq!(align_epochs(40, 20), 40);
}

/// `align` ends at the first check (every ALIGN_CHECK_STEPS steps) where the network gives
/// ALIGN_AGREEMENT of the rows their start label, long before its step budget on easy data.
#[test]
fn align_stops_once_the_network_has_learnt_the_start() {
    use dgg_core::pipeline::align_epochs;
    use dgg_core::pretrain::{ALIGN_AGREEMENT, ALIGN_CHECK_STEPS};
    let (x, _) = common::blobs(50, 12, 3);
    let cfg = small(GraphSource::Euclidean);
    let out = fit(&x, 150, 12, &cfg, None, &Control::none()).unwrap();
    let batches = 150usize.div_ceil(cfg.batch_size);
    let budget = align_epochs(cfg.epochs.classifier, batches);
    let align: Vec<_> = out.history.iter().filter(|h| h.phase == "align").collect();
    let checks: Vec<f64> = align.iter().filter_map(|h| h.losses.iter().find(|l| l.0 == "agreement").map(|l| l.1)).collect();
    assert!(!checks.is_empty(), "no agreement recorded in {} align epochs", align.len());
    assert!(align.len() < budget, "align ran {} of its {budget} epochs", align.len());
    assert!(*checks.last().unwrap() >= ALIGN_AGREEMENT, "stopped at agreement {checks:?}");
    assert!(checks[..checks.len() - 1].iter().all(|&a| a < ALIGN_AGREEMENT), "ran past a check that had agreed: {checks:?}");
    // The checks come every ALIGN_CHECK_STEPS steps, at an epoch's end.
    let every = ALIGN_CHECK_STEPS.div_ceil(batches);
    assert_eq!(align.len(), checks.len() * every, "{} align epochs, {} checks", align.len(), checks.len());
}

/// With keepBest the DGG phase ends DGG_PATIENCE epochs after its last progress (its best epoch,
/// or a rise of its own score by DGG_MIN_RISE; here a fast learning rate drifts it from the start),
/// and none of the epochs it ran after the kept one scored higher; without keepBest it runs every
/// epoch.
#[test]
fn the_dgg_phase_stops_once_patience_epochs_have_not_beaten_the_best() {
    use dgg_core::train::{DGG_MIN_RISE, DGG_PATIENCE};
    let (x, _) = common::blobs(50, 12, 3);
    let base = small(GraphSource::Euclidean);
    let cfg = Config { epochs: Epochs { dgg: 40, ..base.epochs }, lr: LearningRates { dgg: 5e-3, ..base.lr }, ..base };
    let modularity = |out: &dgg_core::FitOutput| -> Vec<f64> {
        out.history.iter().filter(|h| h.phase == "dgg").map(|h| h.losses.iter().find(|l| l.0 == "modularity").expect("modularity recorded").1).collect()
    };
    let out = fit(&x, 150, 12, &cfg, None, &Control::none()).unwrap();
    let q = modularity(&out);
    let kept: usize = out
        .warnings
        .iter()
        .find_map(|w| w.strip_prefix("the DGG phase kept epoch ").and_then(|r| r.split(' ').next()).and_then(|v| v.parse().ok()))
        .unwrap_or(q.len());
    assert!(q.len() < 40, "ran all 40 epochs: {q:?}; warnings {:?}", out.warnings);
    // It ran DGG_PATIENCE epochs past the kept one, and none of the last DGG_PATIENCE rose by
    // DGG_MIN_RISE over what came before them.
    assert!(q.len() >= kept + DGG_PATIENCE, "kept epoch {kept}, ran {}: {q:?}", q.len());
    let before = q[..q.len() - DGG_PATIENCE].iter().copied().fold(f64::NEG_INFINITY, f64::max);
    assert!(q[q.len() - DGG_PATIENCE..].iter().all(|&v| v <= before + DGG_MIN_RISE), "stopped while rising: {q:?}");
    if kept > 0 {
        assert!(q[kept..].iter().all(|&v| v <= q[kept - 1]), "an epoch after the kept one ({kept}) scored higher: {q:?}");
    }
    assert!(out.warnings.iter().any(|w| w.contains(&format!("stopping after {} of 40", q.len()))), "{:?}", out.warnings);
    let all = fit(&x, 150, 12, &Config { keep_best: false, ..cfg }, None, &Control::none()).unwrap();
    assert_eq!(modularity(&all).len(), 40);
}
