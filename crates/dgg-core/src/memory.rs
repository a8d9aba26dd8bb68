//! How much memory a fit or a loaded model will need, estimated before anything big is allocated,
//! and the check that refuses one that cannot fit in the memory available (`DGG_MEMORY_CHECK=off`
//! turns the check off). Without it, `hidden: [65536, 65536, 65536]` or a million rows of a wide
//! network start allocating and end with the process killed by the kernel, after minutes of work.
//!
//! The estimate is a hand count of what one fit holds at its peak (see [`estimate_fit`]); it is
//! meant to be on the high side, within a factor of 1.5 of the peak RSS (the README's "Memory"
//! gives the measurements).

use crate::config::{ClassifierKind, Config, GraphSource};
use crate::error::{DggError, Result};
use crate::model::expected_parameters;
use crate::nn::Shape;
use crate::spectral::spectral_dims;

/// Bytes of one stored value (the engine trains in float32).
const F: u64 = 4;
/// Rows `map_batched` runs through a network at once (inference over all rows).
const INFER_CHUNK: u64 = 8192;

/// The network `fit` builds for `d` features and `cfg`.
pub fn fit_shape(d: usize, cfg: &Config) -> Shape {
    Shape {
        input_dim: d,
        hidden: cfg.hidden.clone(),
        latent_dim: cfg.latent_dim,
        n_clusters: cfg.n_clusters,
        classifier_hidden: match cfg.classifier {
            ClassifierKind::Linear => vec![],
            ClassifierKind::Mlp => vec![64],
        },
    }
}

/// The trainable parameters of `shape` (weights, biases and the mixture), saturating.
pub fn parameter_count(shape: &Shape) -> u64 {
    expected_parameters(shape).iter().fold(0u64, |total, (_, dims)| total.saturating_add(dims.iter().fold(1u64, |p, &x| p.saturating_mul(x as u64))))
}

/// When a part of a fit's memory is held: throughout, or during one stage only (the stages' own
/// parts are freed before the next stage allocates its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Throughout,
    Pretrain,
    Graph,
    Train,
}

/// One part of an estimate: what it holds, the option that sizes it, when, and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub what: &'static str,
    pub option: &'static str,
    pub stage: Stage,
    pub bytes: u64,
}

/// The estimated peak bytes of a fit, by part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Estimate {
    pub parts: Vec<Part>,
}

impl Estimate {
    /// The bytes of one stage's parts.
    pub fn stage(&self, stage: Stage) -> u64 {
        self.parts.iter().filter(|p| p.stage == stage).fold(0u64, |t, p| t.saturating_add(p.bytes))
    }

    /// The peak: what is held throughout, plus the largest stage.
    pub fn total(&self) -> u64 {
        let peak = [Stage::Pretrain, Stage::Graph, Stage::Train].into_iter().map(|s| self.stage(s)).max().unwrap_or(0);
        self.stage(Stage::Throughout).saturating_add(peak)
    }

    /// The largest part (the one to reduce).
    pub fn largest(&self) -> &Part {
        self.parts.iter().max_by_key(|p| p.bytes).expect("an estimate has parts")
    }
}

/// The peak memory of `fit` on `n` rows of `d` features with `cfg`, counted by hand from what the
/// pipeline holds (float32 throughout, `u64` arithmetic that saturates). The peak is what is held
/// throughout plus the largest of the three stages (pretraining, the graph, initialisation and DGG).
///
/// Throughout:
/// - the network: its P parameters, their gradients, Adam's two moments and two snapshots
///   (keepBest's best epoch, the restart after a dead pretraining): 6 P values;
/// - the data, N x D: the caller's rows, the scaled copy and the tensor;
/// - the activations of one training batch (forward, ReLU and gradient values of every layer of
///   the autoencoder and classifier: 8 copies of B x widths, B the larger of `batchSize` and
///   `dggBatchSize`, twice for Siamese pairs), plus one inference chunk of 8192 rows through the
///   widest layer.
///
/// Pretraining: the layer-wise pretraining's representation of all rows by one layer while the
/// next is computed, N x max(h_{l-1} + 2 h_l).
///
/// The graph: the copy of the data a search keeps, its HNSW index (32 links a point), the
/// neighbour lists (twice as deep for the `latent` graph) and, for a Siamese graph, a copy of the
/// encoder with its gradient and moments (4 P_encoder).
///
/// Initialisation and DGG: the DGG targets (N x D), the latent means N x M and q(c|x) N x K (four
/// copies each: a table, the batched pieces and their concatenation, the result handed back), the
/// graph's N x J neighbours of an index and a weight (four copies: built, reversed, trained with,
/// handed back) and spectral clustering's block of 2 (K + K/3) + 5 vectors of N (four copies).
///
/// ```
/// use dgg_core::config::Config;
/// use dgg_core::memory::estimate_fit;
/// // The defaults on MNIST (70,000 x 784): about 2.3 GB, most of it the layer-wise pretraining.
/// let e = estimate_fit(70_000, 784, &Config::default());
/// assert!(e.total() > 2_000_000_000 && e.total() < 2_500_000_000, "{}", e.total());
/// ```
pub fn estimate_fit(n: usize, d: usize, cfg: &Config) -> Estimate {
    let (n, d64) = (n as u64, d as u64);
    let (m, k, j) = (cfg.latent_dim as u64, cfg.n_clusters as u64, cfg.neighbours as u64);
    let mul = |xs: &[u64]| xs.iter().fold(1u64, |p, &x| p.saturating_mul(x));
    let shape = fit_shape(d, cfg);
    let params = parameter_count(&shape);
    let graph = cfg.graph.resolve(n as usize, true);
    let siamese = graph == GraphSource::Siamese;
    let part = |what, option, stage, bytes| Part { what, option, stage, bytes };
    let hidden: u64 = cfg.hidden.iter().map(|&h| h as u64).fold(0, u64::saturating_add);
    let classifier: u64 = shape.classifier_hidden.iter().map(|&h| h as u64).sum();
    let widths = (2 * d64).saturating_add(hidden.saturating_mul(2)).saturating_add(4 * m + k + classifier);
    let batch = cfg.batch_size.max(cfg.dgg_batch_size.unwrap_or(0)) as u64 * if siamese { 2 } else { 1 };
    let widest = cfg.hidden.iter().map(|&h| h as u64).max().unwrap_or(0).max(d64);
    let activations = mul(&[8, batch, widths, F]).saturating_add(mul(&[4, INFER_CHUNK.min(n.max(1)), widest, F]));
    let mut parts = vec![
        part("network parameters, gradients, Adam moments and snapshots", "hidden", Stage::Throughout, mul(&[6, params, F])),
        part("data (N x D, three copies)", "rows", Stage::Throughout, mul(&[3, n, d64, F])),
        part("activations of one batch", "batchSize", Stage::Throughout, activations),
    ];
    if cfg.epochs.layerwise > 0 {
        let layers: Vec<u64> = cfg.hidden.iter().map(|&h| h as u64).chain([m]).collect();
        let widest = layers.iter().enumerate().map(|(i, &h)| if i == 0 { 2 * h } else { layers[i - 1] + 2 * h }).max().unwrap_or(0);
        parts.push(part("layer-wise pretraining's representation of all rows", "hidden", Stage::Pretrain, mul(&[n, widest, F])));
    }
    if graph != GraphSource::None {
        let depth = if graph == GraphSource::Latent { 4 } else { 1 };
        let search = mul(&[n, d64, F]).saturating_add(mul(&[n, 32, 48])).saturating_add(mul(&[depth, n, j, 8]));
        parts.push(part("graph search (a copy of the data, its index, the neighbour lists)", "neighbours", Stage::Graph, search));
    }
    if siamese {
        // The Siamese network: the encoder's trunk and mean head.
        let trunk: Vec<u64> = std::iter::once(d64).chain(cfg.hidden.iter().map(|&h| h as u64)).chain([m]).collect();
        let encoder = trunk.windows(2).fold(0u64, |t, w| t.saturating_add(mul(&[w[0] + 1, w[1]])));
        parts.push(part("Siamese network with gradients and Adam moments", "hidden", Stage::Graph, mul(&[4, encoder, F])));
    }
    parts.push(part("DGG targets (N x D)", "rows", Stage::Train, mul(&[n, d64, F])));
    parts.push(part("latent means (N x latentDim)", "latentDim", Stage::Train, mul(&[4, n, m, F])));
    parts.push(part("q(c|x) (N x nClusters)", "nClusters", Stage::Train, mul(&[4, n, k, F])));
    if graph != GraphSource::None {
        let edges = mul(&[4, n, j, 8]);
        let spectral = mul(&[4, n, 2 * spectral_dims(cfg.n_clusters) as u64 + 5, F]);
        parts.push(part("graph (N x neighbours) and spectral vectors", "neighbours", Stage::Train, edges.saturating_add(spectral)));
    }
    Estimate { parts }
}

/// Bytes loading a model of `shape` needs: the parameters created, then set from the file's
/// (already read) bytes: two copies.
pub fn estimate_load(shape: &Shape) -> u64 {
    parameter_count(shape).saturating_mul(2 * F)
}

/// Whether the check runs: `DGG_MEMORY_CHECK` unset or anything but `off`/`0`/`false`.
pub fn check_enabled(env: Option<&str>) -> bool {
    !matches!(env.map(|v| v.trim().to_ascii_lowercase()).as_deref(), Some("off" | "0" | "false" | "no"))
}

/// The memory available to this process, in bytes: `MemAvailable` of /proc/meminfo, lowered to
/// what the cgroup's limit leaves (v2 `memory.max` less `memory.current`, or v1's
/// `memory.limit_in_bytes` less `memory.usage_in_bytes`). `None` where neither can be read (not
/// Linux): then nothing is refused.
pub fn available() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| mem_available(&s));
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").ok().and_then(|s| cgroup_room(&s, |p| std::fs::read_to_string(p).ok()));
    match (meminfo, cgroup) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// `MemAvailable` of a /proc/meminfo text, in bytes.
pub fn mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb.saturating_mul(1024))
}

/// What the cgroup of a /proc/self/cgroup text leaves (limit less usage), reading its files with
/// `read`; `None` without a limit ("max", or v1's near-`u64::MAX` "unlimited").
pub fn cgroup_room(self_cgroup: &str, read: impl Fn(&str) -> Option<String>) -> Option<u64> {
    let num = |p: &str| read(p).and_then(|s| s.trim().parse::<u64>().ok());
    for line in self_cgroup.lines() {
        let mut f = line.splitn(3, ':');
        let (_, controllers, path) = (f.next()?, f.next()?, f.next()?);
        let path = path.trim_end_matches('/');
        if controllers.is_empty() {
            // v2: the process's own group, then the root's files (a container sees its group there).
            for base in [format!("/sys/fs/cgroup{path}"), "/sys/fs/cgroup".to_string()] {
                if let Some(limit) = num(&format!("{base}/memory.max")) {
                    return Some(limit.saturating_sub(num(&format!("{base}/memory.current")).unwrap_or(0)));
                }
            }
        } else if controllers.split(',').any(|c| c == "memory") {
            for base in [format!("/sys/fs/cgroup/memory{path}"), "/sys/fs/cgroup/memory".to_string()] {
                if let Some(limit) = num(&format!("{base}/memory.limit_in_bytes")).filter(|&l| l < 1 << 60) {
                    return Some(limit.saturating_sub(num(&format!("{base}/memory.usage_in_bytes")).unwrap_or(0)));
                }
            }
        }
    }
    None
}

/// `bytes` for people: "1.5 GB", "820 MB".
pub fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1e12 {
        format!("{:.1} TB", b / 1e12)
    } else if b >= 1e9 {
        format!("{:.1} GB", b / 1e9)
    } else {
        format!("{:.0} MB", (b / 1e6).max(1.0))
    }
}

/// Refuses a fit whose [`estimate_fit`] exceeds `available` (`None`: unknown, nothing refused):
/// `INVALID_OPTION` naming the option behind the largest part, with both amounts.
pub fn check_fit(n: usize, d: usize, cfg: &Config, available: Option<u64>) -> Result<()> {
    let Some(avail) = available else { return Ok(()) };
    let e = estimate_fit(n, d, cfg);
    if e.total() <= avail {
        return Ok(());
    }
    let big = e.largest();
    let value = match big.option {
        "hidden" => format!("hidden = {:?}", cfg.hidden),
        "rows" => format!("{n} rows x {d} features"),
        "latentDim" => format!("latentDim = {}", cfg.latent_dim),
        "nClusters" => format!("nClusters = {}", cfg.n_clusters),
        "neighbours" => format!("neighbours = {}", cfg.neighbours),
        _ => format!("batchSize = {}", cfg.batch_size.max(cfg.dgg_batch_size.unwrap_or(0))),
    };
    let reduce = if big.option == "rows" { "fit on fewer rows or features".to_string() } else { format!("reduce {}", big.option) };
    Err(DggError::InvalidOption {
        field: if big.option == "rows" { "data".into() } else { big.option.into() },
        reason: format!(
            "this fit needs about {} of memory ({} for the {} with {value}), more than the {} available; {reduce}, or set DGG_MEMORY_CHECK=off to try anyway",
            human(e.total()),
            human(big.bytes),
            big.what,
            human(avail)
        ),
    })
}

/// [`check_fit`] against [`available`], unless `DGG_MEMORY_CHECK=off`.
pub fn check_fit_here(n: usize, d: usize, cfg: &Config) -> Result<()> {
    if !check_enabled(std::env::var("DGG_MEMORY_CHECK").ok().as_deref()) {
        return Ok(());
    }
    check_fit(n, d, cfg, available())
}

/// Why a model of `shape` cannot be loaded into `available` bytes, if it cannot (a model file's
/// error names the file: the caller adds it).
pub fn check_load(shape: &Shape, available: Option<u64>) -> std::result::Result<(), String> {
    let need = estimate_load(shape);
    match available {
        Some(avail) if need > avail => Err(format!(
            "its {} parameters (hidden {:?}, input_dim {}) need about {} of memory to load, more than the {} available; set DGG_MEMORY_CHECK=off to try anyway",
            parameter_count(shape),
            shape.hidden,
            shape.input_dim,
            human(need),
            human(avail)
        )),
        _ => Ok(()),
    }
}

/// [`check_load`] against [`available`], unless `DGG_MEMORY_CHECK=off`.
pub fn check_load_here(shape: &Shape) -> std::result::Result<(), String> {
    if !check_enabled(std::env::var("DGG_MEMORY_CHECK").ok().as_deref()) {
        return Ok(());
    }
    check_load(shape, available())
}
