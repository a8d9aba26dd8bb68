//! One DGG training step with explicit gradients: the same J_p as `loss::per_point_loss` (the
//! autograd reference, which tests/loss.rs compares this with), differentiated by hand.
//!
//! With loss = -(1/P) sum_p J_p and J_p = 1/2 [R_p + s_p (G_p + H_p + E_p) + Pr_p], write a = -1/(2P):
//! - R (Bernoulli, logits l): dR/dl = t - s sigmoid(l); (Gaussian, means y): dR/dy = t - s y
//! - G_p = -1/2 sum_k gamma_pk sum_m [lv_km + e^(lv_pm - lv_km) + (mu_pm - mu_km)^2 e^-lv_km]
//! - H_p = -sum_k gamma log gamma, Pr_p = sum_k gamma_pk B_pk, E_p = 1/2 sum_m (1 + lv_pm)
//! - gamma = softmax(f2(mu)); z = mu + e^(lv/2) eps feeds the decoder.

use crate::config::Likelihood;
use crate::error::Result;
use crate::grad::{linear_backward, linear_forward, row_sum, scalar, sigmoid, Grads};
use crate::loss::{gmm_distances, recon_rows, Batch};
use crate::nn::{Networks, LOGVAR_MAX, LOGVAR_MIN};
use candle_core::{Tensor, D};

pub struct StepOutput {
    /// The loss, -(1/P) sum_p J_p.
    pub total: f64,
    /// Batch means of the terms of J_p: recon, gmm, entropy, prior.
    pub terms: [(&'static str, f64); 4],
    pub gamma: Tensor,
    pub grads: Grads,
}

pub fn dgg_step(nets: &Networks, likelihood: Likelihood, batch: &Batch) -> Result<StepOutput> {
    let p = batch.x.dim(0)?;
    let a = -0.5 / p as f64;
    let enc = &nets.encoder;
    let mut grads = Grads::new();

    // Forward.
    let (h, trunk) = enc.trunk.forward_trace(batch.x)?;
    let mu = linear_forward(&enc.mu, &h)?;
    let lv_raw = linear_forward(&enc.logvar, &h)?;
    let lv = lv_raw.clamp(LOGVAR_MIN, LOGVAR_MAX)?;
    let sd = lv.affine(0.5, 0.0)?.exp()?;
    let z = (&mu + (&sd * batch.eps)?)?;
    let (recon, dec) = nets.decoder.forward_trace(&z)?;
    let (logits, cls) = nets.classifier.forward_trace(&mu)?;
    let log_gamma = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
    let gamma = log_gamma.exp()?;
    let s = batch.s; // P x 1
    let inv = nets.logvars.neg()?.exp()?; // K x M
    let g_dist = gmm_distances(&mu, &lv, &nets.means, &nets.logvars)?; // P x K

    // Terms (for reporting and the loss value).
    let r = recon_rows(likelihood, &recon, batch.targets, s)?;
    let gmm = (&gamma * &g_dist)?.sum(D::Minus1)?.affine(-0.5, 0.0)?;
    let h_gamma = (&gamma * &log_gamma)?.sum(D::Minus1)?.neg()?;
    let ent = lv.affine(1.0, 1.0)?.sum(D::Minus1)?.affine(0.5, 0.0)?;
    let prior = (&gamma * batch.prior)?.sum(D::Minus1)?;
    let s1 = s.squeeze(D::Minus1)?;
    let j = ((&r + (((&gmm + &h_gamma)? + &ent)? * &s1)?)? + &prior)?.affine(0.5, 0.0)?;
    let total = -scalar(&j.mean_all()?)?;
    let mean = |t: &Tensor| scalar(&t.mean_all()?);
    let terms = [("recon", mean(&r)?), ("gmm", mean(&gmm)?), ("entropy", mean(&(&h_gamma + &ent)?)?), ("prior", mean(&prior)?)];

    // Decoder output.
    let g_out = match likelihood {
        Likelihood::Bernoulli => (batch.targets - sigmoid(&recon)?.broadcast_mul(s)?)?,
        Likelihood::Gaussian => (batch.targets - recon.broadcast_mul(s)?)?,
    }
    .affine(a, 0.0)?;
    let g_z = nets.decoder.backward(&dec, &g_out, &mut grads, true)?.expect("input gradient");

    // Mixture terms: weight a s_p on G, H and E.
    let w = s.affine(a, 0.0)?; // P x 1
    let wg = gamma.broadcast_mul(&w)?; // P x K: a s_p gamma_pk
    let g_inv = wg.matmul(&inv)?; // P x M: sum_k a s gamma_pk inv_km
    let g_mu_gmm = ((wg.matmul(&(&nets.means * &inv)?)? - (&mu * &g_inv)?)?).clone(); // dG/dmu times a s
    let e_lv = lv.exp()?;
    let g_lv_gmm = (&e_lv * &g_inv)?.affine(-0.5, 0.0)?;
    let g_lv_ent = w.affine(0.5, 0.0)?.broadcast_as(lv.shape())?.contiguous()?;
    // Cluster parameters.
    let col = wg.sum(0)?.unsqueeze(1)?; // K x 1: sum_p a s gamma_pk
    let wg_mu = wg.t()?.matmul(&mu)?; // K x M
    let g_means = ((&wg_mu - nets.means.broadcast_mul(&col)?)? * &inv)?;
    let wg_sq = wg.t()?.matmul(&mu.sqr()?)?;
    let sq = ((&wg_sq - (&nets.means * &wg_mu)?.affine(2.0, 0.0)?)? + nets.means.sqr()?.broadcast_mul(&col)?)?; // sum_p a s gamma (mu - mu_k)^2
    let g_logvars = (col.broadcast_as(inv.shape())? - ((wg.t()?.matmul(&e_lv)? + sq)? * &inv)?)?.affine(-0.5, 0.0)?;
    crate::grad::add(&mut grads, &nets.means, g_means)?;
    crate::grad::add(&mut grads, &nets.logvars, g_logvars)?;

    // gamma = softmax(logits): dLoss/dgamma = a s (-G/2 - log gamma - 1) + a B.
    let g_gamma = ((g_dist.affine(-0.5, 0.0)? - log_gamma)?.affine(1.0, -1.0)?.broadcast_mul(&w)? + batch.prior.affine(a, 0.0)?)?;
    let g_logits = (&gamma * g_gamma.broadcast_sub(&row_sum(&(&gamma * &g_gamma)?)?)?)?;
    let g_mu_cls = nets.classifier.backward(&cls, &g_logits, &mut grads, true)?.expect("input gradient");

    // Encoder heads and trunk.
    let g_mu = ((&g_z + g_mu_gmm)? + g_mu_cls)?;
    let inside = lv_raw.ge(LOGVAR_MIN)?.to_dtype(lv.dtype())? * lv_raw.le(LOGVAR_MAX)?.to_dtype(lv.dtype())?;
    let g_lv = ((((&g_z * batch.eps)? * sd.affine(0.5, 0.0)?)? + g_lv_gmm)? + g_lv_ent)?;
    let g_lv = (g_lv * inside?)?;
    let g_h = (linear_backward(&enc.mu, &h, &g_mu, &mut grads, true)?.expect("dx") + linear_backward(&enc.logvar, &h, &g_lv, &mut grads, true)?.expect("dx"))?;
    enc.trunk.backward(&trunk, &g_h, &mut grads, false)?;
    Ok(StepOutput { total, terms, gamma: gamma.detach(), grads })
}

/// One autoencoder step on the mean path (trunk, mean head, decoder) with explicit gradients:
/// loss = -(1/P) sum_p ln p(x_p | g(mu~_p)), plus, when `labels` are given, `weight` times the
/// cross-entropy of f2(mu~) against them (the `align` phase). Returns the loss, the mean
/// cross-entropy (0 without labels) and the gradients.
pub fn autoencoder_step(nets: &Networks, likelihood: Likelihood, x: &Tensor, labels: Option<(&Tensor, f64)>) -> Result<(f64, f64, Grads)> {
    let p = x.dim(0)?;
    let enc = &nets.encoder;
    let mut grads = Grads::new();
    let (h, trunk) = enc.trunk.forward_trace(x)?;
    let mu = linear_forward(&enc.mu, &h)?;
    let (out, dec) = nets.decoder.forward_trace(&mu)?;
    let ones = Tensor::ones((p, 1), x.dtype(), x.device())?;
    let mut total = -scalar(&recon_rows(likelihood, &out, x, &ones)?.mean_all()?)?;
    let fitted = match likelihood {
        Likelihood::Bernoulli => sigmoid(&out)?,
        Likelihood::Gaussian => out,
    };
    let g_out = (fitted - x)?.affine(1.0 / p as f64, 0.0)?;
    let mut g_mu = nets.decoder.backward(&dec, &g_out, &mut grads, true)?.expect("input gradient");
    let mut ce = 0.0;
    if let Some((labels, weight)) = labels {
        let (logits, cls) = nets.classifier.forward_trace(&mu)?;
        let log_p = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
        let onehot = Tensor::zeros(log_p.shape(), log_p.dtype(), log_p.device())?.scatter_add(
            &labels.unsqueeze(1)?,
            &Tensor::ones((p, 1), log_p.dtype(), log_p.device())?,
            1,
        )?;
        ce = -scalar(&(&onehot * &log_p)?.sum(D::Minus1)?.mean_all()?)?;
        total += weight * ce;
        let g_logits = (log_p.exp()? - onehot)?.affine(weight / p as f64, 0.0)?;
        g_mu = (g_mu + nets.classifier.backward(&cls, &g_logits, &mut grads, true)?.expect("input gradient"))?;
    }
    let g_h = linear_backward(&enc.mu, &h, &g_mu, &mut grads, true)?.expect("dx");
    enc.trunk.backward(&trunk, &g_h, &mut grads, false)?;
    Ok((total, ce, grads))
}
