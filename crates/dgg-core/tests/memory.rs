//! The memory estimate against a hand count, and the checks that refuse a fit or a model load
//! larger than the memory available (with the amounts, the option to reduce and the override).

use candle_core::Device;
use dgg_core::config::{ClassifierKind, Config, Epochs, GraphSource};
use dgg_core::memory::{self, estimate_fit, fit_shape, parameter_count, Stage};
use dgg_core::Model;

/// 100 rows of 5 features into 3 clusters through 5-8-6-2, a Euclidean graph of 4 neighbours.
fn small() -> Config {
    Config {
        n_clusters: 3,
        latent_dim: 2,
        hidden: vec![8, 6],
        classifier: ClassifierKind::Linear,
        graph: GraphSource::Euclidean,
        neighbours: 4,
        batch_size: 32,
        epochs: Epochs { layerwise: 2, pretrain: 1, vae: 0, siamese: 0, classifier: 1, dgg: 1 },
        ..Config::default()
    }
}

#[test]
fn the_estimate_of_a_small_fit_matches_a_hand_count() {
    let cfg = small();
    // Parameters (weights + biases): encoder 5x8+8, 8x6+6, heads 2 x (6x2+2); decoder 2x6+6,
    // 6x8+8, 8x5+5; classifier 2x3+3; mixture 2 x 3x2.
    let params = 48 + 54 + 14 + 14 + 18 + 56 + 45 + 9 + 12;
    assert_eq!(parameter_count(&fit_shape(5, &cfg)), params);
    let e = estimate_fit(100, 5, &cfg);
    let bytes = |what: &str| e.parts.iter().find(|p| p.what.starts_with(what)).unwrap_or_else(|| panic!("no part {what}")).bytes;
    // Throughout: the network (6 P), three copies of the data, one batch's activations: widths
    // 2 x 5 + 2 x (8 + 6) + 4 x 2 + 3 = 49, 8 copies of 32 rows, and an inference chunk of 100 rows
    // through the widest layer (8), 4 copies.
    assert_eq!(bytes("network"), 6 * params * 4);
    assert_eq!(bytes("data"), 3 * 100 * 5 * 4);
    assert_eq!(bytes("activations"), 8 * 32 * 49 * 4 + 4 * 100 * 8 * 4);
    assert_eq!(e.stage(Stage::Throughout), 6480 + 6000 + 62_976);
    // Pretraining: layers 8, 6, 2; the widest moment holds 8 and twice 6.
    assert_eq!(bytes("layer-wise"), 100 * (8 + 2 * 6) * 4);
    assert_eq!(e.stage(Stage::Pretrain), 8000);
    // The graph: a copy of the data, HNSW's 32 links of 48 bytes a row, N x J neighbours of 8 bytes.
    assert_eq!(bytes("graph search"), 100 * 5 * 4 + 100 * 32 * 48 + 100 * 4 * 8);
    assert_eq!(e.stage(Stage::Graph), 158_800);
    // DGG: the targets, 4 copies of the latent means and of q(c|x), 4 of the graph, 4 of
    // spectral's 2 (3 + 1) + 5 vectors.
    assert_eq!(bytes("DGG targets"), 100 * 5 * 4);
    assert_eq!(bytes("latent"), 4 * 100 * 2 * 4);
    assert_eq!(bytes("q(c|x)"), 4 * 100 * 3 * 4);
    assert_eq!(bytes("graph (N"), 4 * 100 * 4 * 8 + 4 * 100 * 13 * 4);
    assert_eq!(e.stage(Stage::Train), 43_600);
    // The peak: throughout plus the largest stage (here the graph search).
    assert_eq!(e.total(), 75_456 + 158_800);
    assert_eq!(e.parts.len(), 9);
}

#[test]
fn the_estimate_grows_with_what_the_options_change() {
    let base = estimate_fit(1000, 20, &small()).total();
    let none = Config { graph: GraphSource::None, ..small() };
    assert!(estimate_fit(1000, 20, &none).total() < base);
    let siamese = Config { graph: GraphSource::Siamese, ..small() };
    assert!(estimate_fit(1000, 20, &siamese).parts.iter().any(|p| p.what.starts_with("Siamese")));
    let no_layerwise = Config { epochs: Epochs { layerwise: 0, ..small().epochs }, ..small() };
    // Only a stage's largest counts: without layer-wise pretraining that stage holds nothing.
    assert_eq!(estimate_fit(1000, 20, &no_layerwise).stage(Stage::Pretrain), 0);
    assert!(estimate_fit(1000, 20, &no_layerwise).total() <= base);
    assert!(estimate_fit(2000, 20, &small()).total() > base);
    let wide = Config { dgg_batch_size: Some(4096), ..small() };
    assert!(estimate_fit(1000, 20, &wide).total() > base);
    // No overflow on absurd sizes: the sum saturates.
    let huge = Config { hidden: vec![65_536; 8], ..small() };
    assert!(estimate_fit(usize::MAX / 2, 1 << 20, &huge).total() > 0);
}

#[test]
fn a_fit_larger_than_the_memory_available_is_refused_naming_the_option() {
    let cfg = Config { hidden: vec![65_536, 65_536, 65_536], ..small() };
    let e = memory::check_fit(100, 5, &cfg, Some(16_000_000_000)).unwrap_err();
    assert_eq!(e.code(), "INVALID_OPTION");
    let msg = e.to_string();
    assert!(msg.starts_with("hidden: this fit needs about 412.9 GB of memory ("), "{msg}");
    assert!(msg.contains("with hidden = [65536, 65536, 65536]"), "{msg}");
    assert!(msg.contains("more than the 16.0 GB available; reduce hidden, or set DGG_MEMORY_CHECK=off"), "{msg}");
    // Rows are the data, not an option.
    let msg = memory::check_fit(10_000_000, 2000, &small(), Some(1 << 30)).unwrap_err().to_string();
    assert!(msg.starts_with("data: ") && msg.contains("10000000 rows x 2000 features") && msg.contains("fit on fewer rows"), "{msg}");
    // Within the memory, or the memory unknown: no refusal.
    assert!(memory::check_fit(100, 5, &small(), Some(1 << 30)).is_ok());
    assert!(memory::check_fit(100, 5, &cfg, None).is_ok());
}

#[test]
fn a_fit_is_refused_before_anything_is_allocated() {
    // hidden [65536] x 3 on 10 rows: about 400 GB, more than any machine this runs on.
    let cfg = Config { hidden: vec![65_536, 65_536, 65_536], ..small() };
    let data = vec![0.5f32; 10 * 5];
    let e = dgg_core::fit(&data, 10, 5, &cfg, None, &dgg_graph::Control::none()).err().expect("refused");
    assert_eq!(e.code(), "INVALID_OPTION", "{e}");
    assert!(e.to_string().contains("DGG_MEMORY_CHECK=off"), "{e}");
}

#[test]
fn the_override_turns_the_check_off() {
    assert!(memory::check_enabled(None));
    assert!(memory::check_enabled(Some("on")));
    assert!(memory::check_enabled(Some("")));
    for off in ["off", "OFF", " off ", "0", "false", "no"] {
        assert!(!memory::check_enabled(Some(off)), "{off}");
    }
}

#[test]
fn a_model_too_large_to_load_is_refused() {
    let shape = fit_shape(784, &Config { hidden: vec![30_000, 30_000], ..Config::default() });
    let msg = memory::check_load(&shape, Some(4_000_000_000)).unwrap_err();
    assert!(msg.contains("need about 14.8 GB of memory to load, more than the 4.0 GB available"), "{msg}");
    assert!(msg.contains("DGG_MEMORY_CHECK=off"), "{msg}");
    assert!(memory::check_load(&shape, Some(16_000_000_000)).is_ok());
    assert!(memory::check_load(&shape, None).is_ok());
}

#[test]
fn the_memory_available_is_read_from_proc_and_the_cgroup() {
    assert_eq!(memory::mem_available("MemTotal: 100 kB\nMemAvailable:   2048 kB\n"), Some(2 << 20));
    assert_eq!(memory::mem_available("MemTotal: 100 kB\n"), None);
    let files = |p: &str| -> Option<String> {
        match p {
            "/sys/fs/cgroup/app/memory.max" => Some("1000000\n".into()),
            "/sys/fs/cgroup/app/memory.current" => Some("400000\n".into()),
            "/sys/fs/cgroup/memory/job/memory.limit_in_bytes" => Some("5000\n".into()),
            "/sys/fs/cgroup/memory/job/memory.usage_in_bytes" => Some("1000\n".into()),
            "/sys/fs/cgroup/memory/free/memory.limit_in_bytes" => Some("9223372036854771712\n".into()),
            "/sys/fs/cgroup/free/memory.max" => Some("max\n".into()),
            _ => None,
        }
    };
    assert_eq!(memory::cgroup_room("0::/app\n", files), Some(600_000));
    assert_eq!(memory::cgroup_room("4:memory:/job\n1:cpu:/job\n", files), Some(4000));
    // No limit: "max" in v2, near u64::MAX in v1.
    assert_eq!(memory::cgroup_room("0::/free\n", files), None);
    assert_eq!(memory::cgroup_room("4:memory:/free\n", files), None);
    // On Linux the machine's own figure is there.
    if cfg!(target_os = "linux") {
        assert!(memory::available().is_some_and(|a| a > 0));
    }
}

#[test]
fn loading_checks_the_memory_after_the_metadata() {
    // A small genuine model loads with the check on (the default).
    let cfg = small();
    let data: Vec<f32> = (0..60 * 5).map(|i| ((i * 37) % 11) as f32 / 10.0).collect();
    let out = dgg_core::fit(&data, 60, 5, &cfg, None, &dgg_graph::Control::none()).unwrap();
    let bytes = out.model.to_bytes().unwrap();
    assert!(Model::from_bytes(&bytes, &Device::Cpu, "buffer").is_ok());
}
