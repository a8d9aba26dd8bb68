//! `fit`: the whole pipeline from raw rows to a trained model, with the time of each phase.
//! pretrain -> (Siamese) graph -> k-means and classifier init -> DGG.

use crate::checkpoint::Checkpoints;
use crate::config::{Config, GraphSource, InitMethod, Likelihood, SiamesePositives, Weighting};
use crate::data::{choose_likelihood, validate_matrix, Scaler};
use crate::device;
use crate::error::{DggError, Result};
use crate::kmeans::kmeans;
use crate::memory;
use crate::model::{argmax_rows, Model};
use crate::nn::Networks;
use crate::pretrain::{self, map_batched};
use crate::prior::{graph_targets, self_graph, GammaTable};
use crate::spectral::spectral_labels;
use crate::train::{train_dgg, DggData, EpochRecord, Phase, DGG_PATIENCE};
use candle_core::{DType, Tensor, D};
use dgg_graph::{knn_with_control, Control, Graph, KnnMethod, SiameseConfig};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

pub struct FitOutput {
    pub model: Model,
    pub labels: Vec<u32>,
    /// gamma, N x K.
    pub proba: Vec<f32>,
    /// mu~, N x M.
    pub embedding: Vec<f32>,
    /// Seconds per phase, in pipeline order.
    pub timings: Vec<(String, f64)>,
    pub history: Vec<EpochRecord>,
    /// The graph DGG trained with (built or given); `None` for graph 'none'.
    pub graph: Option<Graph>,
    pub device: String,
    pub device_reason: String,
    /// What the fit noticed and repaired or could not repair (for example clusters left empty).
    pub warnings: Vec<String>,
}

struct Clock(Vec<(String, f64)>, Instant);

impl Clock {
    fn lap(&mut self, name: &str) {
        self.0.push((name.to_string(), self.1.elapsed().as_secs_f64()));
        self.1 = Instant::now();
    }
}

/// Trains a model on `data` (N x D, row-major). `graph`, when given, replaces the graph build.
pub fn fit(data: &[f32], n: usize, d: usize, cfg: &Config, graph: Option<Graph>, ctl: &Control) -> Result<FitOutput> {
    fit_resumable(data, n, d, cfg, graph, ctl, None)
}

/// `fit`, saving each stage into `checkpoints` (a folder) and skipping the stages already saved
/// there by an earlier call with the same data and options (see [`crate::checkpoint`]).
pub fn fit_resumable(data: &[f32], n: usize, d: usize, cfg: &Config, graph: Option<Graph>, ctl: &Control, checkpoints: Option<&Path>) -> Result<FitOutput> {
    cfg.validate()?;
    validate_matrix(data, n, d)?;
    cfg.validate_for(n)?;
    if let Some(g) = &graph {
        if g.n != n {
            return Err(DggError::option("graph", format!("has {} points, the data has {n} rows", g.n)));
        }
    }
    // Before anything big is allocated: a fit that cannot fit in memory is refused, not killed.
    memory::check_fit_here(n, d, cfg)?;
    let (device, device_reason) = device::select(cfg.device)?;
    let scaler = Scaler::fit(cfg.scale, data, n, d);
    let scaled = scaler.apply(data, d);
    let likelihood = match cfg.likelihood {
        Some(Likelihood::Bernoulli) if choose_likelihood(&scaled) != Likelihood::Bernoulli => {
            return Err(DggError::option("likelihood", "'bernoulli' needs every value in [0, 1] after scaling; use scale 'max' or likelihood 'gaussian'"));
        }
        Some(l) => l,
        None => choose_likelihood(&scaled),
    };
    let x = Tensor::from_slice(&scaled, (n, d), &device)?;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let shape = memory::fit_shape(d, cfg);
    let nets = Networks::new(&shape, &mut rng, DType::F32, &device)?;
    let mut history = Vec::new();
    let mut warnings: Vec<String> = Vec::new();
    let mut clock = Clock(Vec::new(), Instant::now());
    let batch_size = cfg.batch_size;
    let phase = |name: &'static str, epochs: usize, lr: f64| Phase { name, epochs, batch_size, lr, lr_step: 0, lr_gamma: 1.0, weight_decay: cfg.weight_decay };

    let ckpt = checkpoints.map(|dir| Checkpoints::open(dir, data, n, d, cfg, graph.as_ref())).transpose()?;
    let resume = |stage: &str, rng: &mut ChaCha8Rng, history: &mut Vec<EpochRecord>| -> Result<bool> {
        match &ckpt {
            Some(c) => c.load_stage(stage, &nets, rng, history),
            None => Ok(false),
        }
    };
    let save = |stage: &str, rng: &ChaCha8Rng, history: &[EpochRecord]| -> Result<()> {
        match &ckpt {
            Some(c) => c.save_stage(stage, &nets, rng, history),
            None => Ok(()),
        }
    };

    // 1. Pretraining.
    let e = &cfg.epochs;
    if !resume("pretrained", &mut rng, &mut history)? {
        pretrain::centre_encoder(&nets, &x)?;
        pretrain::layerwise(&nets, likelihood, &x, &phase("layerwise", e.layerwise, cfg.lr.pretrain), &mut rng, ctl, &mut history)?;
        pretrain::autoencoder(&nets, likelihood, &x, &phase("pretrain", e.pretrain, cfg.lr.pretrain), &mut rng, ctl, &mut history)?;
        // Greedy layer-wise training can switch most ReLUs of a layer off for every input (seen on
        // 400 faces of 4096 pixels): they pass no gradient again, and the encoder maps the rows to
        // a few points. Start again from fresh weights, end to end only.
        if e.layerwise > 0 {
            let dead = pretrain::dead_unit_share(&nets, &x)?;
            let spread = pretrain::latent_spread(&map_batched(&x, 8192, |b| nets.encoder.mean(b))?)?;
            if dead > pretrain::MAX_DEAD_SHARE || spread < pretrain::MIN_LATENT_SPREAD {
                warnings.push(format!(
                    "the layer-wise pretraining left {:.0}% of a layer's units dead; the autoencoder was retrained end to end from fresh weights",
                    100.0 * dead
                ));
                nets.restore(&Networks::new(&shape, &mut rng, DType::F32, &device)?.snapshot()?)?;
                pretrain::centre_encoder(&nets, &x)?;
                pretrain::autoencoder(&nets, likelihood, &x, &phase("pretrain", e.pretrain, cfg.lr.pretrain), &mut rng, ctl, &mut history)?;
            }
        }
        pretrain::vae(&nets, likelihood, &x, &phase("vae", e.vae, cfg.lr.vae), &mut rng, ctl, &mut history)?;
        if e.vae == 0 {
            let mu = map_batched(&x, 8192, |b| nets.encoder.mean(b))?;
            let mu = pretrain::normalize_latent(&nets, &mu)?;
            pretrain::init_logvar(&nets, &mu)?;
        }
        save("pretrained", &rng, &history)?;
    }
    let mut mu = map_batched(&x, 8192, |b| nets.encoder.mean(b))?;
    clock.lap("pretrain");

    // 2. The graph.
    let graph = match (graph, ckpt.as_ref().map(|c| c.load_graph()).transpose()?.flatten()) {
        (Some(g), _) | (None, Some(g)) => Some(g),
        (None, None) => {
            let g = make_graph(&scaled, n, d, cfg, Some((&encoder_weights(&nets), &mu)), &device, ctl)?;
            if let (Some(c), Some(g)) = (&ckpt, &g) {
                c.save_graph(g)?;
            }
            g
        }
    };
    clock.lap("graph");

    // 3. Mixture and classifier from a first partition: spectral clustering of the graph, or k-means
    //    on the latent means.
    let pseudo = match resume("initialised", &mut rng, &mut history)? {
        true => None,
        false => Some(match (&graph, cfg.init) {
            (Some(g), InitMethod::Spectral) => spectral_start(g, cfg),
            _ => {
                let flat = mu.flatten_all()?.to_vec1::<f32>()?;
                kmeans(&flat, n, cfg.latent_dim, cfg.n_clusters, cfg.kmeans_restarts, cfg.seed.wrapping_add(2)).labels
            }
        }),
    };
    clock.lap("partition");
    if let Some(pseudo) = pseudo {
        if graph.is_some() && cfg.init == InitMethod::Spectral {
            // The classifier first learns what the current latent space allows (cheap: f2 alone on
            // fixed means); align then reshapes the latent space for the rest. Started from a
            // random f2, align's few steps on small data can leave whole clusters unlearnt.
            pretrain::classifier(&nets, &mu, &pseudo, &phase("classifier", e.classifier, cfg.lr.classifier), &mut rng, ctl, &mut history)?;
            let align_epochs = align_epochs(e.classifier, n.div_ceil(batch_size));
            pretrain::align(&nets, likelihood, &x, &pseudo, &phase("align", align_epochs, cfg.lr.pretrain), &mut rng, ctl, &mut history)?;
            mu = map_batched(&x, 8192, |b| nets.encoder.mean(b))?;
            pretrain::init_mixture(&nets, &mu, &pseudo)?;
            // The classifier once more on the aligned means (cheap: f2 alone), so that DGG starts
            // from the partition align taught rather than from where align's last steps left f2.
            pretrain::classifier(&nets, &mu, &pseudo, &phase("classifier", e.classifier, cfg.lr.classifier), &mut rng, ctl, &mut history)?;
        } else {
            pretrain::init_mixture(&nets, &mu, &pseudo)?;
            pretrain::classifier(&nets, &mu, &pseudo, &phase("classifier", e.classifier, cfg.lr.classifier), &mut rng, ctl, &mut history)?;
        }
        save("initialised", &rng, &history)?;
    }
    mu = map_batched(&x, 8192, |b| nets.encoder.mean(b))?;
    clock.lap("init");

    // 4. DGG.
    let k = cfg.n_clusters;
    let mut gamma = GammaTable { k, values: proba_of(&nets, &mu)? };
    let train_graph = graph.clone().unwrap_or_else(|| self_graph(n));
    let reverse = train_graph.reverse();
    let (targets, s) = graph_targets(&scaled, d, &reverse);
    let targets = Tensor::from_vec(targets, (n, d), &device)?;
    let s = Tensor::from_vec(s, (n, 1), &device)?;
    let dgg_phase = Phase { lr_step: 10, lr_gamma: 0.9, batch_size: cfg.dgg_batch_size.unwrap_or(batch_size), ..phase("dgg", e.dgg, cfg.lr.dgg) };
    let data = DggData { x: &x, targets: &targets, s: &s, graph: &train_graph, reverse: &reverse };
    if !resume("trained", &mut rng, &mut history)? {
        let (kept, ran) = train_dgg(&nets, likelihood, &data, &mut gamma, &dgg_phase, cfg.keep_best, &mut rng, ctl, &mut history)?;
        if cfg.keep_best && kept < e.dgg {
            let stopped =
                if ran < e.dgg { format!(", stopping after {ran} of {} when {DGG_PATIENCE} epochs in a row made no progress", e.dgg) } else { String::new() };
            warnings.push(format!("the DGG phase kept epoch {kept} of {}: its partition followed the graph best (modularity){stopped}", e.dgg));
        }
        save("trained", &rng, &history)?;
    }
    clock.lap("dgg");

    mu = map_batched(&x, 8192, |b| nets.encoder.mean(b))?;
    let proba = proba_of(&nets, &mu)?;
    let labels = argmax_rows(&proba, k);
    let mut sizes = vec![0usize; k];
    labels.iter().for_each(|&l| sizes[l as usize] += 1);
    let used = sizes.iter().filter(|&&c| c > 0).count();
    if used < k {
        warnings.push(format!("{} of the {k} clusters are empty: the data may hold fewer groups than nClusters, or the fit may need more epochs", k - used));
    }
    let embedding = mu.flatten_all()?.to_vec1::<f32>()?;
    let model = Model { config: cfg.clone(), shape, scaler, likelihood, nets, device: device.clone() };
    Ok(FitOutput { model, labels, proba, embedding, timings: clock.0, history, graph, device: device::name(&device), device_reason, warnings })
}

/// The graph of `cfg.graph` on scaled data: kNN in the data (Euclidean) or in the space of a
/// Siamese network started from the pretrained encoder (`pretrained`: its weights and the latent
/// means, N x M) or from scratch.
fn make_graph(
    scaled: &[f32],
    n: usize,
    d: usize,
    cfg: &Config,
    pretrained: Option<(&HashMap<String, Tensor>, &Tensor)>,
    device: &candle_core::Device,
    ctl: &Control,
) -> Result<Option<Graph>> {
    Ok(match cfg.graph.resolve(n, pretrained.is_some()) {
        GraphSource::None => None,
        GraphSource::Auto => unreachable!("resolved above"),
        GraphSource::Euclidean => Some(build_graph_with(scaled, n, d, cfg, ctl)?),
        GraphSource::Latent => {
            let (_, latent) = pretrained.ok_or_else(|| {
                DggError::option("graph", "'latent' needs the pretrained encoder of fit(); build 'euclidean' or 'siamese' graphs on their own")
            })?;
            let latent = latent.flatten_all()?.to_vec1::<f32>()?;
            // Each point's 2J nearest in the data, kept where they are also among its 2J nearest
            // in the latent space, filled up with its nearest in the data (see agreed_neighbours).
            let depth = (2 * cfg.neighbours).min(n - 1);
            let raw = knn_with_control(scaled, n, d, depth, &KnnMethod::Auto, ctl)?;
            let confirm = knn_with_control(&latent, n, cfg.latent_dim, depth, &KnnMethod::Auto, ctl)?;
            let nb = dgg_graph::agreed_neighbours(&raw, &confirm, cfg.neighbours)?;
            Some(Graph::from_neighbours(&nb, graph_weighting(cfg))?)
        }
        GraphSource::Siamese => {
            let scfg = SiameseConfig {
                hidden: cfg.hidden.clone(),
                latent_dim: cfg.latent_dim,
                epochs: cfg.epochs.siamese,
                batch_size: cfg.batch_size,
                lr: cfg.lr.siamese,
                weight_decay: cfg.weight_decay,
                seed: cfg.seed.wrapping_add(1),
                ..SiameseConfig::default()
            };
            let positives = match (cfg.siamese_positives, pretrained) {
                (SiamesePositives::Agreed, Some((_, latent))) => {
                    let depth = AGREED_DEPTH.min(n - 1);
                    let raw = knn_with_control(scaled, n, d, depth, &KnnMethod::Auto, ctl)?;
                    let latent = latent.flatten_all()?.to_vec1::<f32>()?;
                    let confirm = knn_with_control(&latent, n, cfg.latent_dim, depth, &KnnMethod::Auto, ctl)?;
                    dgg_graph::agreed_neighbours(&raw, &confirm, scfg.positives.min(depth))?
                }
                // Without a pretrained encoder there is no latent space to agree with.
                _ => knn_with_control(scaled, n, d, scfg.positives, &KnnMethod::Auto, ctl)?,
            };
            let emb = dgg_graph::train_siamese(scaled, n, d, &positives, pretrained.map(|p| p.0), &scfg, device, ctl)?;
            Some(build_graph_with(&emb, n, cfg.latent_dim, cfg, ctl)?)
        }
    })
}

/// The most optimiser steps of `align` (it runs `epochs.classifier` epochs, or fewer when those
/// would take more steps): align trains the whole autoencoder, and on large data 40 epochs of it
/// cost more than the pretraining while the cross-entropy has long converged.
pub const ALIGN_MAX_STEPS: usize = 1500;

/// The step budget of `align` is at least this when `epochs.classifier` is not zero: on a few hundred
/// rows 40 epochs are 80 steps, too few for the network to learn the start (olivetti's cross-entropy
/// stayed above 2 nats). Align stops before its budget once the network has learnt the start
/// ([`crate::pretrain::ALIGN_AGREEMENT`]).
pub const ALIGN_MIN_STEPS: usize = 400;

/// Epochs of `align`: `epochs` (the classifier's count), stretched to [`ALIGN_MIN_STEPS`] and cut to
/// [`ALIGN_MAX_STEPS`] optimiser steps; 0 stays 0.
pub fn align_epochs(epochs: usize, batches_per_epoch: usize) -> usize {
    if epochs == 0 {
        return 0;
    }
    let b = batches_per_epoch.max(1);
    epochs.max(ALIGN_MIN_STEPS.div_ceil(b)).min(ALIGN_MAX_STEPS.div_ceil(b)).max(1)
}

/// How deep `SiamesePositives::Agreed` looks in both neighbour lists.
const AGREED_DEPTH: usize = 20;

/// The graph `fit` would build, without training the clustering model. A Siamese network starts
/// from random weights here (in `fit` it starts from the pretrained encoder), and its positives
/// are the data's nearest neighbours whatever `siamese_positives` says: there is no latent space.
pub fn graph_only(data: &[f32], n: usize, d: usize, cfg: &Config, ctl: &Control) -> Result<Graph> {
    cfg.validate()?;
    validate_matrix(data, n, d)?;
    cfg.validate_for(n)?;
    if cfg.graph == GraphSource::None {
        return Err(DggError::option("graph", "'none' builds no graph; choose 'euclidean' or 'siamese'"));
    }
    let (device, _) = device::select(cfg.device)?;
    let scaled = Scaler::fit(cfg.scale, data, n, d).apply(data, d).into_owned();
    Ok(make_graph(&scaled, n, d, cfg, None, &device, ctl)?.expect("a graph source other than none"))
}

/// The partition `fit` starts DGG from with `init: 'spectral'` (also the bench's spectral row).
pub fn spectral_start(graph: &Graph, cfg: &Config) -> Vec<u32> {
    spectral_labels(graph, cfg.n_clusters, cfg.kmeans_restarts, cfg.seed.wrapping_add(2))
}

/// gamma = softmax(f2(mu)) for every row, flattened.
fn proba_of(nets: &Networks, mu: &Tensor) -> Result<Vec<f32>> {
    let g = map_batched(mu, 8192, |b| Ok(candle_nn::ops::softmax(&nets.classifier.forward(b)?, D::Minus1)?))?;
    Ok(g.flatten_all()?.to_vec1::<f32>()?)
}

/// The kNN graph of `points` with the configured weighting.
pub fn build_graph(points: &[f32], n: usize, d: usize, cfg: &Config) -> Result<Graph> {
    build_graph_with(points, n, d, cfg, &Control::none())
}

/// [`build_graph`] with progress (phase `"knn"`) and cancellation.
pub fn build_graph_with(points: &[f32], n: usize, d: usize, cfg: &Config, ctl: &Control) -> Result<Graph> {
    let nbrs = knn_with_control(points, n, d, cfg.neighbours, &KnnMethod::Auto, ctl)?;
    Ok(Graph::from_neighbours(&nbrs, graph_weighting(cfg))?)
}

fn graph_weighting(cfg: &Config) -> dgg_graph::Weighting {
    match cfg.weighting {
        Weighting::Uniform => dgg_graph::Weighting::Uniform,
        Weighting::Gaussian => dgg_graph::Weighting::Gaussian { rank: cfg.neighbours.min(10) },
    }
}

/// The encoder's trunk and mean head under the Siamese network's names (`l0.weight`, `mu.bias`, ...).
fn encoder_weights(nets: &Networks) -> HashMap<String, Tensor> {
    let data = nets.varmap.data().lock().expect("varmap lock");
    data.iter()
        .filter_map(|(k, v)| k.strip_prefix("encoder.").filter(|r| !r.starts_with("logvar")).map(|r| (r.to_string(), v.as_tensor().copy().expect("copy"))))
        .collect()
}
