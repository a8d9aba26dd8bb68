//! The DGG objective, evaluated per point.
//!
//! J = 1/2 sum_i sum_j w_ij [L(x_i) + L(x_i, x_j)] with sum_j w_ij = 1. Regrouping every pair term by
//! the point whose posterior it uses gives, for point p with incoming weights c_p = sum_{i: p in N(i)} w_ip:
//!
//! ```text
//! J_p = 1/2 [ ln p(x_p | z_p) + sum_i w_ip ln p(x_i | z_p)
//!           + (1 + c_p) (GMM_p + H(gamma_p) + 1/2 sum_m (1 + ln sigma~_pm^2))
//!           + sum_k gamma_pk (ln pi_pk + sum_i w_ip ln pi_ik) ]
//! ```
//!
//! and both likelihoods are linear in the data, so the neighbour sum folds into per-point targets
//! t_p = x_p + sum_i w_ip x_i and s_p = 1 + c_p:
//! Bernoulli: sum_d t_pd l_pd - s_p softplus(l_pd) (logits l); Gaussian: -(s_p |mu_x|^2 - 2 t_p.mu_x) / 2
//! (unit variance, data standardised; the constant sum_i w_ip |x_i|^2 is dropped).
//! Each point therefore passes through the networks once per epoch instead of 1 + J times; summed
//! over all points, J_p equals the per-pair objective exactly for the same samples (tests/loss.rs).

use crate::config::Likelihood;
use crate::error::Result;
use crate::nn::Networks;
use candle_core::{Tensor, D};

/// Per-point inputs of one step (row p of every tensor belongs to the same point).
pub struct Batch<'a> {
    /// Inputs, P x D.
    pub x: &'a Tensor,
    /// t_p = x_p + sum_i w_ip x_i, P x D.
    pub targets: &'a Tensor,
    /// s_p = 1 + c_p, P x 1.
    pub s: &'a Tensor,
    /// B_p = ln pi_p + sum_i w_ip ln pi_i, P x K (no gradient: pi is updated in closed form).
    pub prior: &'a Tensor,
    /// Standard normal noise for the reparameterised sample, P x M.
    pub eps: &'a Tensor,
}

/// What the networks produce for a set of points; shared by the per-point and per-pair forms.
pub struct Outputs {
    pub mu: Tensor,
    pub logvar: Tensor,
    pub z: Tensor,
    /// Decoder output: logits (Bernoulli) or means (Gaussian), P x D.
    pub recon: Tensor,
    pub gamma: Tensor,
    pub log_gamma: Tensor,
}

pub fn outputs(nets: &Networks, x: &Tensor, eps: &Tensor) -> Result<Outputs> {
    let (mu, logvar) = nets.encoder.forward(x)?;
    let z = (&mu + (logvar.affine(0.5, 0.0)?.exp()? * eps)?)?;
    let recon = nets.decoder.forward(&z)?;
    // f2 reads the mean (as the public code does on MNIST): gamma does not depend on the noise.
    let logits = nets.classifier.forward(&mu)?;
    let log_gamma = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
    let gamma = log_gamma.exp()?;
    Ok(Outputs { mu, logvar, z, recon, gamma, log_gamma })
}

/// softplus(l) = ln(1 + e^l), computed without overflow.
pub fn softplus(l: &Tensor) -> Result<Tensor> {
    Ok((l.relu()? + (l.abs()?.neg()?.exp()? + 1.0)?.log()?)?)
}

/// Reconstruction term per row: sum_d t l - s softplus(l) (Bernoulli) or -(s |y|^2 - 2 t.y) / 2.
pub fn recon_rows(likelihood: Likelihood, recon: &Tensor, targets: &Tensor, s: &Tensor) -> Result<Tensor> {
    let rows = match likelihood {
        Likelihood::Bernoulli => {
            let tl = (targets * recon)?.sum(D::Minus1)?;
            let sp = softplus(recon)?.sum(D::Minus1)?;
            (tl - (sp * s.squeeze(D::Minus1)?)?)?
        }
        Likelihood::Gaussian => {
            let sq = recon.sqr()?.sum(D::Minus1)?;
            let ty = (targets * recon)?.sum(D::Minus1)?;
            ((ty * 2.0)? - (sq * s.squeeze(D::Minus1)?)?)?.affine(0.5, 0.0)?
        }
    };
    Ok(rows)
}

/// G_pk = sum_m [ln sigma_km^2 + sigma~_pm^2 / sigma_km^2 + (mu~_pm - mu_km)^2 / sigma_km^2], P x K,
/// expanded into small matrix products so no P x K x M tensor is formed.
pub fn gmm_distances(mu: &Tensor, logvar: &Tensor, means: &Tensor, logvars: &Tensor) -> Result<Tensor> {
    let inv = logvars.neg()?.exp()?; // K x M
    let var_term = logvar.exp()?.matmul(&inv.t()?)?;
    let sq_term = mu.sqr()?.matmul(&inv.t()?)?;
    let cross = mu.matmul(&(means * &inv)?.t()?)?;
    let centre = ((means.sqr()? * &inv)? + logvars)?.sum(D::Minus1)?.unsqueeze(0)?; // 1 x K
    Ok(((var_term + sq_term)? - (cross * 2.0)?)?.broadcast_add(&centre)?)
}

/// The loss (minus the mean of J_p over the batch) and its terms for reporting.
pub struct Loss {
    pub total: Tensor,
    /// Batch means of the terms of J_p (before the 1/2), as f64: recon, gmm, entropy, prior.
    pub terms: [(&'static str, f64); 4],
    pub gamma: Tensor,
}

pub fn dgg_loss(nets: &Networks, likelihood: Likelihood, batch: &Batch) -> Result<Loss> {
    let out = outputs(nets, batch.x, batch.eps)?;
    per_point_loss(nets, likelihood, batch, out)
}

/// J_p from already computed outputs (split out so tests can reuse one forward pass).
pub fn per_point_loss(nets: &Networks, likelihood: Likelihood, batch: &Batch, out: Outputs) -> Result<Loss> {
    let s = batch.s.squeeze(D::Minus1)?;
    let recon = recon_rows(likelihood, &out.recon, batch.targets, batch.s)?;
    let g = gmm_distances(&out.mu, &out.logvar, &nets.means, &nets.logvars)?;
    let gmm = (&out.gamma * &g)?.sum(D::Minus1)?.affine(-0.5, 0.0)?;
    let h_gamma = (&out.gamma * &out.log_gamma)?.sum(D::Minus1)?.neg()?;
    let ent = out.logvar.affine(1.0, 1.0)?.sum(D::Minus1)?.affine(0.5, 0.0)?;
    let weighted = ((&gmm + &h_gamma)? + &ent)?;
    let prior = (&out.gamma * batch.prior)?.sum(D::Minus1)?;
    let j = (((&recon + (&weighted * &s)?)? + &prior)? * 0.5)?;
    let total = j.mean_all()?.neg()?;
    let mean = |t: &Tensor| -> Result<f64> { Ok(t.mean_all()?.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()?) };
    let terms = [("recon", mean(&recon)?), ("gmm", mean(&gmm)?), ("entropy", mean(&(h_gamma + ent)?)?), ("prior", mean(&prior)?)];
    Ok(Loss { total, terms, gamma: out.gamma.detach() })
}
