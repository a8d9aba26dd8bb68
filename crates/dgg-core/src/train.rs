//! The training loop shared by every phase (Adam, step schedule, shuffled mini-batches in which every
//! point is a centre once per epoch, progress, cancellation, the non-finite guard) and the DGG phase.

use crate::config::Likelihood;
use crate::error::{DggError, Result};
use crate::grad::Grads;
use crate::loss::Batch;
use crate::nn::{vars_with_prefix, Networks};
use crate::optim::Adam;
use crate::prior::{prior_rows, GammaTable};
use crate::step::dgg_step;
use candle_core::{Device, Tensor, Var};
use candle_nn::ParamsAdamW;
use dgg_graph::{Control, Graph, Progress};
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// One line of the loss history: the epoch means of each term.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochRecord {
    pub phase: String,
    pub epoch: usize,
    pub losses: Vec<(String, f64)>,
    pub seconds: f64,
}

/// How one phase trains.
pub struct Phase<'a> {
    pub name: &'a str,
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    /// The learning rate is multiplied by `lr_gamma` every `lr_step` epochs.
    pub lr_step: usize,
    pub lr_gamma: f64,
    pub weight_decay: f64,
}

/// A step's result: the loss to minimise (differentiated by candle's autograd) or its value with
/// gradients already computed, and the terms to report.
pub struct StepLoss {
    pub total: Tensor,
    pub terms: Vec<(&'static str, f64)>,
    pub grads: Option<Grads>,
}

impl StepLoss {
    pub fn autograd(total: Tensor, terms: Vec<(&'static str, f64)>) -> Self {
        Self { total, terms, grads: None }
    }
}

/// Runs `phase.epochs` epochs over `n` points; `step` gets the indices of a mini-batch.
pub fn run_phase(
    phase: &Phase,
    n: usize,
    vars: Vec<Var>,
    rng: &mut ChaCha8Rng,
    ctl: &Control,
    history: &mut Vec<EpochRecord>,
    step: impl FnMut(&[u32], &mut ChaCha8Rng) -> Result<StepLoss>,
) -> Result<()> {
    run_phase_with(phase, n, vars, rng, ctl, history, step, |_, _| Ok(EpochEnd::default()))
}

/// What an after-epoch hook of [`run_phase_with`] reports.
#[derive(Debug, Default)]
pub struct EpochEnd {
    /// Values recorded in the epoch's history next to its mean losses.
    pub values: Vec<(&'static str, f64)>,
    /// The phase has done its work: no further epochs.
    pub done: bool,
}

/// [`run_phase`] with `after_epoch(epoch, rng)` called at the end of each epoch (1-based); the
/// terms it returns join that epoch's record in `history`.
#[allow(clippy::too_many_arguments)] // run_phase's arguments and the epoch hook
pub fn run_phase_with(
    phase: &Phase,
    n: usize,
    vars: Vec<Var>,
    rng: &mut ChaCha8Rng,
    ctl: &Control,
    history: &mut Vec<EpochRecord>,
    mut step: impl FnMut(&[u32], &mut ChaCha8Rng) -> Result<StepLoss>,
    mut after_epoch: impl FnMut(usize, &mut ChaCha8Rng) -> Result<EpochEnd>,
) -> Result<()> {
    if phase.epochs == 0 || vars.is_empty() {
        return Ok(());
    }
    let params = ParamsAdamW { lr: phase.lr, weight_decay: phase.weight_decay, ..Default::default() };
    let mut opt = Adam::new(vars, params)?;
    let batch = phase.batch_size.min(n).max(1);
    let batches = n.div_ceil(batch);
    let mut order: Vec<u32> = (0..n as u32).collect();
    for epoch in 0..phase.epochs {
        let started = Instant::now();
        if epoch > 0 && phase.lr_step > 0 && epoch % phase.lr_step == 0 {
            opt.set_learning_rate(opt.learning_rate() * phase.lr_gamma);
        }
        order.shuffle(rng);
        let mut sums: Vec<(&'static str, f64)> = Vec::new();
        for (b, idx) in order.chunks(batch).enumerate() {
            ctl.check_cancel()?;
            let loss = step(idx, rng)?;
            let total = loss.total.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()?;
            if !total.is_finite() {
                return Err(DggError::NonFinite { phase: phase.name.to_string(), epoch: epoch + 1 });
            }
            match &loss.grads {
                Some(grads) => opt.apply(grads)?,
                None => opt.backward_step(&loss.total)?,
            }
            if sums.is_empty() {
                sums = std::iter::once(("loss", 0.0)).chain(loss.terms.iter().map(|t| (t.0, 0.0))).collect();
            }
            for (acc, v) in sums.iter_mut().zip(std::iter::once(total).chain(loss.terms.iter().map(|t| t.1))) {
                acc.1 += v;
            }
            let now: Vec<(&str, f64)> = std::iter::once(("loss", total)).chain(loss.terms.iter().copied()).collect();
            ctl.report(&Progress { phase: phase.name, epoch: epoch + 1, epochs: phase.epochs, batch: b + 1, batches, losses: &now });
        }
        let mut losses: Vec<(String, f64)> = sums.iter().map(|(k, v)| (k.to_string(), v / batches as f64)).collect();
        let end = after_epoch(epoch + 1, rng)?;
        losses.extend(end.values.into_iter().map(|(k, v)| (k.to_string(), v)));
        history.push(EpochRecord { phase: phase.name.to_string(), epoch: epoch + 1, losses, seconds: started.elapsed().as_secs_f64() });
        if end.done {
            break;
        }
    }
    Ok(())
}

/// Standard normal noise, rows x cols, from the seeded RNG (reproducible on every device).
pub fn normal(rng: &mut ChaCha8Rng, rows: usize, cols: usize, device: &Device) -> Result<Tensor> {
    let v: Vec<f32> = (0..rows * cols).map(|_| StandardNormal.sample(rng)).collect();
    Ok(Tensor::from_vec(v, (rows, cols), device)?)
}

pub fn index_tensor(idx: &[u32], device: &Device) -> Result<Tensor> {
    Ok(Tensor::from_slice(idx, idx.len(), device)?)
}

/// Everything the DGG phase reads besides the networks: data, graph sums and the gamma table.
pub struct DggData<'a> {
    /// Scaled inputs, N x D, on the training device.
    pub x: &'a Tensor,
    /// t = x + sum of incoming weighted neighbours, N x D, on the device.
    pub targets: &'a Tensor,
    /// s = 1 + incoming weight, N x 1, on the device.
    pub s: &'a Tensor,
    pub graph: &'a Graph,
    pub reverse: &'a dgg_graph::ReverseGraph,
}

/// The DGG phase: maximise J over the encoder, decoder, classifier and mixture, updating pi in closed
/// form (through the gamma table) after every step.
///
/// After each epoch the partition argmax(gamma) is scored by its modularity on the training graph
/// (a label-free measure of how well the clusters follow the graph; reported in `history` as
/// `modularity`). With `keep_best`, the networks end at the best-scoring epoch, the start included:
/// on small data DGG can drift from a good start, and this keeps it from ending worse than it began
/// by its own measure. Epochs that leave fewer clusters in use than the start are never kept.
/// With `keep_best` the phase also ends once [`DGG_PATIENCE`] epochs in a row have made no
/// progress. Returns the epoch kept (0: the start) and the epochs run.
#[allow(clippy::too_many_arguments)] // one argument per piece of a training phase
pub fn train_dgg(
    nets: &Networks,
    likelihood: Likelihood,
    data: &DggData,
    gamma: &mut GammaTable,
    phase: &Phase,
    keep_best: bool,
    rng: &mut ChaCha8Rng,
    ctl: &Control,
    history: &mut Vec<EpochRecord>,
) -> Result<(usize, usize)> {
    let device = data.x.device().clone();
    let (n, m) = (data.graph.n, nets.means.dim(1)?);
    let k = gamma.k;
    let vars = vars_with_prefix(&nets.varmap, &["encoder.", "decoder.", "classifier.", "gmm."]);
    // (modularity, clusters in use) of argmax(gamma).
    let score = |g: &GammaTable| -> Result<(f64, usize)> {
        let labels = crate::model::argmax_rows(&g.values, k);
        let mut used = vec![false; k];
        labels.iter().for_each(|&l| used[l as usize] = true);
        Ok((data.graph.modularity(&labels)?, used.iter().filter(|&&u| u).count()))
    };
    let start = score(gamma)?;
    let best_cell = std::cell::RefCell::new((start.0, 0usize, keep_best.then(|| nets.snapshot()).transpose()?));
    let table = std::cell::RefCell::new(std::mem::take(gamma));
    let ran = std::cell::RefCell::new(0usize);
    // (the phase's best score so far, the epoch it last made progress).
    let progress = std::cell::RefCell::new((f64::NEG_INFINITY, 0usize));
    run_phase_with(
        phase,
        n,
        vars,
        rng,
        ctl,
        history,
        |idx, rng| {
            let it = index_tensor(idx, &device)?;
            let prior = prior_rows(idx, data.graph, data.reverse, &table.borrow());
            let prior = Tensor::from_vec(prior, (idx.len(), k), &device)?.to_dtype(data.x.dtype())?;
            let eps = normal(rng, idx.len(), m, &device)?.to_dtype(data.x.dtype())?;
            let (x, targets, s) = (data.x.index_select(&it, 0)?, data.targets.index_select(&it, 0)?, data.s.index_select(&it, 0)?);
            let out = dgg_step(nets, likelihood, &Batch { x: &x, targets: &targets, s: &s, prior: &prior, eps: &eps })?;
            let g = out.gamma.to_dtype(candle_core::DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
            table.borrow_mut().set_rows(idx, &g);
            Ok(StepLoss { total: Tensor::new(out.total, &device)?, terms: out.terms.to_vec(), grads: Some(out.grads) })
        },
        |epoch, _| {
            let (q, used) = score(&table.borrow())?;
            let mut b = best_cell.borrow_mut();
            // An epoch that empties clusters the start used is never kept: merging clusters can
            // raise modularity while it loses what was found.
            if q > b.0 && used >= start.1 {
                b.0 = q;
                b.1 = epoch;
                if keep_best {
                    b.2 = Some(nets.snapshot()?);
                }
            }
            // Progress: a new best, or a rise of the phase's own score (after its first epochs DGG
            // often climbs back towards a start it dropped from; that climb is left to run).
            let mut p = progress.borrow_mut();
            if b.1 == epoch || q > p.0 + DGG_MIN_RISE {
                *p = (q.max(p.0), epoch);
            }
            *ran.borrow_mut() = epoch;
            Ok(EpochEnd { values: vec![("modularity", q)], done: keep_best && epoch - p.1 >= DGG_PATIENCE })
        },
    )?;
    *gamma = table.into_inner();
    let best = best_cell.into_inner();
    let kept = best.1;
    let ran = ran.into_inner();
    if let (true, Some(snap)) = (keep_best, &best.2) {
        if kept != ran {
            nets.restore(snap)?;
        }
    }
    Ok((if keep_best { kept } else { ran }, ran))
}

/// With `keep_best`, the DGG phase stops once this many epochs in a row have neither beaten the
/// best modularity (the start included) nor raised the phase's own best by [`DGG_MIN_RISE`] (see
/// benches/research/defaults.md, 'When the DGG phase stops'). Epochs after the best are thrown
/// away by `keep_best` anyway; a climb is left to run, since it may still pass the start.
pub const DGG_PATIENCE: usize = 5;
/// See [`DGG_PATIENCE`].
pub const DGG_MIN_RISE: f64 = 1e-3;
