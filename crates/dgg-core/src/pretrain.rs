//! Initialisation before DGG: greedy layer-wise denoising autoencoders stacked into the encoder and
//! decoder, end-to-end fine-tuning, an optional VAE phase, then k-means on the encoded means to set
//! the mixture and pre-train the classifier on the pseudo-labels.

use crate::config::Likelihood;
use crate::error::Result;
use crate::loss::recon_rows;
use crate::nn::{linear, vars_with_prefix, Networks};
use crate::train::{index_tensor, normal, run_phase, run_phase_with, EpochEnd, EpochRecord, Phase, StepLoss};
use candle_core::{DType, Module, Tensor, D};
use candle_nn::{Linear, VarMap};
use dgg_graph::Control;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Fraction of inputs zeroed in the denoising phases.
pub const CORRUPTION: f64 = 0.2;

/// Applies `f` to `x` in chunks (no gradient is kept): inference over a whole data set.
pub fn map_batched(x: &Tensor, chunk: usize, f: impl Fn(&Tensor) -> Result<Tensor>) -> Result<Tensor> {
    let n = x.dim(0)?;
    let parts = (0..n).step_by(chunk.max(1)).map(|s| f(&x.narrow(0, s, chunk.min(n - s))?).map(|t| t.detach())).collect::<Result<Vec<_>>>()?;
    Ok(Tensor::cat(&parts, 0)?)
}

/// Data-dependent initialisation of the encoder trunk: each layer's bias is shifted so that every
/// unit's pre-activation has mean zero over (a sample of) the data. With a random bias, rows that
/// share a strong common component (faces on one background, pixels far from zero) give each ReLU
/// nearly the same input, so a unit is on for every row or off for every row; a few optimiser steps
/// can then switch a whole layer off for good (400 faces of 4096 pixels: every row ended in one
/// cluster). Centred, each unit splits the rows.
pub fn centre_encoder(nets: &Networks, x: &Tensor) -> Result<()> {
    let n = x.dim(0)?;
    let rows = n.min(CENTRE_SAMPLE);
    // Evenly spaced rows: files are often sorted by class.
    let idx: Vec<u32> = (0..rows).map(|i| (i * n / rows) as u32).collect();
    let mut h = x.index_select(&index_tensor(&idx, x.device())?, 0)?;
    for (i, layer) in nets.encoder.trunk.layers.iter().enumerate() {
        let pre = layer.forward(&h)?;
        let mean = pre.mean(0)?;
        let bias = layer.bias().expect("bias");
        nets.set(&format!("encoder.l{i}.bias"), &(bias - &mean)?)?;
        h = pre.broadcast_sub(&mean)?.relu()?;
    }
    Ok(())
}

/// The largest share, over the encoder's trunk layers, of ReLU units that are off for every one of
/// (up to [`CENTRE_SAMPLE`] evenly spaced) rows. Such units pass no gradient and never recover.
pub fn dead_unit_share(nets: &Networks, x: &Tensor) -> Result<f64> {
    let n = x.dim(0)?;
    let rows = n.min(CENTRE_SAMPLE);
    let idx: Vec<u32> = (0..rows).map(|i| (i * n / rows) as u32).collect();
    let mut h = x.index_select(&index_tensor(&idx, x.device())?, 0)?;
    let mut worst = 0f64;
    for layer in &nets.encoder.trunk.layers {
        h = layer.forward(&h)?.relu()?;
        let alive = h.max(0)?.gt(0.0)?.to_dtype(DType::F64)?.mean_all()?.to_scalar::<f64>()?;
        worst = worst.max(1.0 - alive);
    }
    Ok(worst)
}

/// Above this [`dead_unit_share`] after pretraining, the pipeline retrains the autoencoder end to end
/// from fresh weights. Olivetti's layer-wise pretraining leaves 100% of a layer dead; digits' leaves
/// up to 70% (seed 44) and still clusters at 0.96, so the line is drawn high.
pub const MAX_DEAD_SHARE: f64 = 0.9;

/// Rows [`centre_encoder`] looks at (evenly spaced; enough for a mean per unit).
pub const CENTRE_SAMPLE: usize = 4096;

/// Zeroes each entry with probability CORRUPTION (the mask comes from the seeded RNG).
fn corrupt(x: &Tensor, rng: &mut ChaCha8Rng) -> Result<Tensor> {
    let (r, c) = x.dims2()?;
    let mask: Vec<f32> = (0..r * c).map(|_| if rng.gen::<f64>() < CORRUPTION { 0.0 } else { 1.0 }).collect();
    Ok((x * Tensor::from_vec(mask, (r, c), x.device())?.to_dtype(x.dtype())?)?)
}

/// Reconstruction loss per batch (mean over rows): Bernoulli cross-entropy on logits or squared error.
fn recon_loss(likelihood: Likelihood, out: &Tensor, x: &Tensor) -> Result<Tensor> {
    let ones = Tensor::ones((x.dim(0)?, 1), x.dtype(), x.device())?;
    Ok(recon_rows(likelihood, out, x, &ones)?.mean_all()?.neg()?)
}

/// Greedy layer-wise denoising autoencoders: layer l learns to reconstruct the (clean) output of
/// layer l-1 from a corrupted copy; its decoder becomes the mirrored layer of the decoder.
pub fn layerwise(
    nets: &Networks,
    likelihood: Likelihood,
    x: &Tensor,
    phase: &Phase,
    rng: &mut ChaCha8Rng,
    ctl: &Control,
    history: &mut Vec<EpochRecord>,
) -> Result<()> {
    if phase.epochs == 0 {
        return Ok(());
    }
    let mut encoders: Vec<(&Linear, String, bool)> = nets.encoder.trunk.layers.iter().enumerate().map(|(i, l)| (l, format!("encoder.l{i}"), true)).collect();
    encoders.push((&nets.encoder.mu, "encoder.mu".into(), false));
    let depth = encoders.len();
    let mut input = x.clone();
    for (level, (enc, _name, relu)) in encoders.iter().enumerate() {
        let (fan_out, fan_in) = enc.weight().dims2()?;
        let tmp = VarMap::new();
        let dec = linear(&tmp, "dae", fan_out, fan_in, rng, input.dtype(), input.device())?;
        // The outermost layer reconstructs data with the data's likelihood; inner ones use squared error.
        let lik = if level == 0 { likelihood } else { Likelihood::Gaussian };
        let mut vars = vars_with_prefix(&nets.varmap, &[&format!("{}.", encoders[level].1)]);
        vars.extend(tmp.all_vars());
        let name = format!("layerwise-{}", level + 1);
        let p = Phase { name: &name, ..*phase };
        let n = input.dim(0)?;
        let src = input.clone();
        run_phase(&p, n, vars, rng, ctl, history, |idx, rng| {
            let xb = src.index_select(&index_tensor(idx, src.device())?, 0)?;
            let mut h = enc.forward(&corrupt(&xb, rng)?)?;
            if *relu {
                h = h.relu()?;
            }
            let out = dec.forward(&h)?;
            Ok(StepLoss::autograd(recon_loss(lik, &out, &xb)?, vec![]))
        })?;
        // The decoder of layer `level` is decoder layer depth-1-level (the mirror).
        let target = format!("decoder.l{}", depth - 1 - level);
        nets.set(&format!("{target}.weight"), dec.weight())?;
        nets.set(&format!("{target}.bias"), dec.bias().expect("bias"))?;
        input = map_batched(&input, 4096, |b| {
            let h = enc.forward(b)?;
            Ok(if *relu { h.relu()? } else { h })
        })?;
    }
    Ok(())
}

/// End-to-end autoencoder fine-tuning on the mean path (encoder trunk, mean head, decoder).
pub fn autoencoder(
    nets: &Networks,
    likelihood: Likelihood,
    x: &Tensor,
    phase: &Phase,
    rng: &mut ChaCha8Rng,
    ctl: &Control,
    history: &mut Vec<EpochRecord>,
) -> Result<()> {
    let mut vars = vars_with_prefix(&nets.varmap, &["decoder."]);
    vars.extend(vars_with_prefix(&nets.varmap, &["encoder."]).into_iter().filter(|v| !is_logvar(nets, v)));
    run_phase(phase, x.dim(0)?, vars, rng, ctl, history, |idx, _| {
        let xb = x.index_select(&index_tensor(idx, x.device())?, 0)?;
        let (total, _, grads) = crate::step::autoencoder_step(nets, likelihood, &xb, None)?;
        Ok(StepLoss { total: Tensor::new(total, x.device())?, terms: vec![], grads: Some(grads) })
    })
}

fn is_logvar(nets: &Networks, v: &candle_core::Var) -> bool {
    let id = v.as_tensor().id();
    id == nets.encoder.logvar.weight().id() || nets.encoder.logvar.bias().is_some_and(|b| b.id() == id)
}

/// A VAE with a standard normal prior: trains the log-variance head and smooths the latent space.
pub fn vae(
    nets: &Networks,
    likelihood: Likelihood,
    x: &Tensor,
    phase: &Phase,
    rng: &mut ChaCha8Rng,
    ctl: &Control,
    history: &mut Vec<EpochRecord>,
) -> Result<()> {
    let vars = vars_with_prefix(&nets.varmap, &["encoder.", "decoder."]);
    let m = nets.means.dim(1)?;
    run_phase(phase, x.dim(0)?, vars, rng, ctl, history, |idx, rng| {
        let xb = x.index_select(&index_tensor(idx, x.device())?, 0)?;
        let (mu, logvar) = nets.encoder.forward(&xb)?;
        let eps = normal(rng, idx.len(), m, x.device())?.to_dtype(x.dtype())?;
        let z = (&mu + (logvar.affine(0.5, 0.0)?.exp()? * eps)?)?;
        let rec = recon_loss(likelihood, &nets.decoder.forward(&z)?, &xb)?;
        let kl = ((mu.sqr()? + logvar.exp()?)? - logvar.affine(1.0, 1.0)?)?.sum(D::Minus1)?.mean_all()?.affine(0.5, 0.0)?;
        let kl_v = kl.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        Ok(StepLoss::autograd((rec + kl)?, vec![("kl", kl_v)]))
    })
}

/// Re-parameterises the autoencoder so the latent means have zero mean and unit average variance,
/// without changing what it computes: mu' = (mu - c) / s, and the decoder's first layer takes
/// z = s z' + c. Adam's step sizes are absolute, so the DGG learning rate then means the same thing
/// whatever scale pretraining happened to produce. Returns the rescaled means.
pub fn normalize_latent(nets: &Networks, mu: &Tensor) -> Result<Tensor> {
    let centre = mu.mean_keepdim(0)?; // 1 x M
    let s = latent_spread(mu)?;
    // A latent space that barely varies (an autoencoder that learnt little) is left unscaled:
    // dividing by a tiny spread would blow the encoder's weights up by as much.
    let s = if s.is_finite() && s > MIN_LATENT_SPREAD { s } else { 1.0 };
    let w = nets.encoder.mu.weight();
    let b = nets.encoder.mu.bias().expect("bias");
    nets.set("encoder.mu.weight", &w.affine(1.0 / s, 0.0)?)?;
    nets.set("encoder.mu.bias", &(b - centre.squeeze(0)?)?.affine(1.0 / s, 0.0)?)?;
    let first = &nets.decoder.layers[0];
    let (w1, b1) = (first.weight(), first.bias().expect("bias"));
    let shift = w1.matmul(&centre.t()?)?.squeeze(1)?; // W1 c
    nets.set("decoder.l0.bias", &(b1 + shift)?)?;
    nets.set("decoder.l0.weight", &w1.affine(s, 0.0)?)?;
    Ok(mu.broadcast_sub(&centre)?.affine(1.0 / s, 0.0)?)
}

/// The root mean variance of the latent means (N x M) over the rows.
pub fn latent_spread(mu: &Tensor) -> Result<f64> {
    Ok(mu.var_keepdim(0)?.mean_all()?.to_dtype(DType::F64)?.to_scalar::<f64>()?.sqrt())
}

/// Below this standard deviation of the latent means, [`normalize_latent`] does not rescale and
/// the pipeline counts the encoder as dead.
pub const MIN_LATENT_SPREAD: f64 = 1e-3;

/// Sets the log-variance head to a small constant variance when no VAE phase trained it:
/// sigma~^2 = 1% of the latent variance, so the first DGG samples stay near the means.
pub fn init_logvar(nets: &Networks, mu: &Tensor) -> Result<()> {
    let var = mu.var_keepdim(0)?.mean_all()?.to_dtype(DType::F64)?.to_scalar::<f64>()?.max(1e-8);
    let w = nets.encoder.logvar.weight();
    nets.set("encoder.logvar.weight", &w.zeros_like()?)?;
    let b = nets.encoder.logvar.bias().expect("bias");
    nets.set("encoder.logvar.bias", &b.ones_like()?.affine((0.01 * var).ln(), 0.0)?)?;
    Ok(())
}

/// Sets the mixture from a partition of the means: GMM means = per-cluster means, variances = the
/// unbiased per-cluster variances (a cluster with fewer than two points takes the global variance).
pub fn init_mixture(nets: &Networks, mu: &Tensor, labels: &[u32]) -> Result<()> {
    let (_, m) = mu.dims2()?;
    let k = nets.means.dim(0)?;
    let flat = mu.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
    let mut sums = vec![0f64; k * m];
    let mut sq = vec![0f64; k * m];
    let mut counts = vec![0f64; k];
    for (row, &l) in flat.chunks_exact(m).zip(labels) {
        counts[l as usize] += 1.0;
        for j in 0..m {
            sums[l as usize * m + j] += row[j] as f64;
            sq[l as usize * m + j] += (row[j] as f64).powi(2);
        }
    }
    let global_mean = mu.mean_keepdim(0)?.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?;
    let global = mu.var_keepdim(0)?.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?;
    let means: Vec<f32> = (0..k * m).map(|i| if counts[i / m] > 0.0 { sums[i] / counts[i / m] } else { global_mean[i % m] } as f32).collect();
    let logvars: Vec<f32> = (0..k * m)
        .map(|i| {
            let c = counts[i / m];
            let v = if c > 1.0 { (sq[i] - sums[i] * sums[i] / c) / (c - 1.0) } else { global[i % m] };
            (v.max(1e-6) as f32).ln()
        })
        .collect();
    let device = nets.means.device();
    nets.set("gmm.means", &Tensor::from_vec(means, (k, m), device)?)?;
    nets.set("gmm.logvars", &Tensor::from_vec(logvars, (k, m), device)?)?;
    Ok(())
}

/// Pre-trains f2 with cross-entropy on the pseudo-labels.
pub fn classifier(
    nets: &Networks,
    mu: &Tensor,
    labels: &[u32],
    phase: &Phase,
    rng: &mut ChaCha8Rng,
    ctl: &Control,
    history: &mut Vec<EpochRecord>,
) -> Result<()> {
    let targets = Tensor::from_slice(labels, labels.len(), mu.device())?;
    let vars = vars_with_prefix(&nets.varmap, &["classifier."]);
    run_phase(phase, mu.dim(0)?, vars, rng, ctl, history, |idx, _| {
        let it = index_tensor(idx, mu.device())?;
        let logits = nets.classifier.forward(&mu.index_select(&it, 0)?)?;
        let loss = candle_nn::loss::cross_entropy(&logits, &targets.index_select(&it, 0)?)?;
        Ok(StepLoss::autograd(loss, vec![]))
    })
}

/// Fits the encoder, decoder and classifier to a partition of the data found outside the latent
/// space (spectral clustering of the graph): cross-entropy of f2(mu~) against the pseudo-labels plus
/// the autoencoder's reconstruction, so the latent space separates those clusters and the decoder
/// still matches it. The classifier alone (a linear layer) cannot follow a partition that the
/// pretrained latent space does not separate linearly.
#[allow(clippy::too_many_arguments)] // one argument per piece of a training phase, as in the other phases
pub fn align(
    nets: &Networks,
    likelihood: Likelihood,
    x: &Tensor,
    labels: &[u32],
    phase: &Phase,
    rng: &mut ChaCha8Rng,
    ctl: &Control,
    history: &mut Vec<EpochRecord>,
) -> Result<()> {
    let targets = Tensor::from_slice(labels, labels.len(), x.device())?;
    let weight = align_weight(x.dim(1)?);
    let mut vars = vars_with_prefix(&nets.varmap, &["decoder.", "classifier."]);
    vars.extend(vars_with_prefix(&nets.varmap, &["encoder."]).into_iter().filter(|v| !is_logvar(nets, v)));
    let n = x.dim(0)?;
    let batches = n.div_ceil(phase.batch_size.min(n).max(1));
    let mut unchecked = 0usize;
    run_phase_with(
        phase,
        n,
        vars,
        rng,
        ctl,
        history,
        |idx, _| {
            let it = index_tensor(idx, x.device())?;
            let xb = x.index_select(&it, 0)?;
            let yb = targets.index_select(&it, 0)?;
            let (total, ce, grads) = crate::step::autoencoder_step(nets, likelihood, &xb, Some((&yb, weight)))?;
            Ok(StepLoss { total: Tensor::new(total, x.device())?, terms: vec![("cross_entropy", ce)], grads: Some(grads) })
        },
        |_, _| {
            unchecked += batches;
            if unchecked < ALIGN_CHECK_STEPS {
                return Ok(EpochEnd::default());
            }
            unchecked = 0;
            let agreement = agreement(nets, x, labels)?;
            Ok(EpochEnd { values: vec![("agreement", agreement)], done: agreement >= ALIGN_AGREEMENT })
        },
    )
}

/// `align` stops once this share of the rows gets its pseudo-label from the network (argmax
/// f2(mu)): the start is learnt, and more steps only cost time (jaffe, 213 rows: 400 steps, 26 s).
pub const ALIGN_AGREEMENT: f64 = 0.99;

/// `align` measures the agreement every this many optimiser steps (at an epoch's end).
pub const ALIGN_CHECK_STEPS: usize = 50;

/// The share of rows whose argmax f2(mu) is their label.
pub fn agreement(nets: &Networks, x: &Tensor, labels: &[u32]) -> Result<f64> {
    let pred = map_batched(x, 8192, |b| Ok(nets.classifier.forward(&nets.encoder.mean(b)?)?.argmax(D::Minus1)?))?;
    let pred = pred.to_dtype(DType::U32)?.to_vec1::<u32>()?;
    let same = pred.iter().zip(labels).filter(|(p, l)| p == l).count();
    Ok(same as f64 / labels.len().max(1) as f64)
}

/// Weight of the cross-entropy against the reconstruction (nats per point) in `align`, for data of
/// up to [`ALIGN_REFERENCE_DIM`] features.
pub const ALIGN_WEIGHT: f64 = 10.0;

/// The input size at which [`ALIGN_WEIGHT`] was chosen (MNIST's 784).
pub const ALIGN_REFERENCE_DIM: usize = 784;

/// The cross-entropy weight of `align` for `d` input features. The reconstruction is a sum over the
/// features, so its pull on the encoder grows with `d`; the weight grows with it above MNIST's 784,
/// or the cross-entropy of 4096-pixel faces stays at chance (olivetti: 3.6 nats against ln 40 = 3.7).
pub fn align_weight(d: usize) -> f64 {
    ALIGN_WEIGHT * (d as f64 / ALIGN_REFERENCE_DIM as f64).max(1.0)
}
