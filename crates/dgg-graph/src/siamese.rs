//! The Siamese similarity network: an MLP with the encoder's mean path (`l0 .. l{h-1}` with ReLU,
//! then `mu`), trained with a contrastive loss so that Euclidean kNN pairs come close and random
//! pairs at least `margin` apart. The graph is then built in its embedding.
//!
//! Each step embeds every *distinct* point it needs once (anchors, their positives, the random
//! negatives) and forms all pair terms from those rows by `index_select`, rather than running the
//! network once per pair.

use crate::error::{GraphError, Result};
use candle_core::{DType, Device, Module, Tensor, Var};
use candle_nn::{linear, Linear, VarBuilder, VarMap};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;

/// Training settings; defaults follow the paper (Adam 5e-4, x0.1 every 70 epochs, wd 1e-4, c = 3).
#[derive(Debug, Clone, PartialEq)]
pub struct SiameseConfig {
    pub hidden: Vec<usize>,
    pub latent_dim: usize,
    /// N_t: positives (the nearest Euclidean neighbours) and random negatives per anchor.
    pub positives: usize,
    /// c: negatives are pushed until at least this far apart.
    pub margin: f32,
    pub epochs: usize,
    /// Anchor points per step.
    pub batch_size: usize,
    pub lr: f64,
    /// The learning rate is multiplied by `lr_gamma` every `lr_step` epochs.
    pub lr_step: usize,
    pub lr_gamma: f64,
    /// Decoupled (AdamW) weight decay.
    pub weight_decay: f64,
    pub seed: u64,
}

impl Default for SiameseConfig {
    fn default() -> Self {
        SiameseConfig {
            hidden: vec![500, 500, 2000],
            latent_dim: 10,
            positives: 2,
            margin: 3.0,
            epochs: 30,
            batch_size: 256,
            lr: 5e-4,
            lr_step: 70,
            lr_gamma: 0.1,
            weight_decay: 1e-4,
            seed: 0,
        }
    }
}

impl SiameseConfig {
    pub fn validate(&self) -> Result<()> {
        if let Some(h) = self.hidden.iter().find(|&&h| h == 0) {
            return Err(GraphError::invalid("hidden", h, "layer sizes must be >= 1"));
        }
        let checks: [(&'static str, f64, bool, &str); 7] = [
            ("latent_dim", self.latent_dim as f64, self.latent_dim >= 1, "must be >= 1"),
            ("positives", self.positives as f64, self.positives >= 1, "must be >= 1"),
            ("margin", self.margin as f64, self.margin.is_finite() && self.margin > 0.0, "must be finite and > 0"),
            ("batch_size", self.batch_size as f64, self.batch_size >= 1, "must be >= 1"),
            ("lr", self.lr, self.lr.is_finite() && self.lr > 0.0, "must be finite and > 0"),
            ("lr_gamma", self.lr_gamma, self.lr_gamma.is_finite() && self.lr_gamma > 0.0, "must be finite and > 0"),
            ("weight_decay", self.weight_decay, self.weight_decay.is_finite() && self.weight_decay >= 0.0, "must be finite and >= 0"),
        ];
        for (field, value, ok, reason) in checks {
            if !ok {
                return Err(GraphError::invalid(field, value, reason));
            }
        }
        if self.lr_step == 0 {
            return Err(GraphError::invalid("lr_step", 0, "must be >= 1 (use lr_gamma = 1 for a constant rate)"));
        }
        Ok(())
    }
}

/// The network. Parameter names (under the builder's prefix): `l{i}.weight` `(out, in)`,
/// `l{i}.bias`, `mu.weight`, `mu.bias`: the engine's encoder uses the same names, so its
/// pretrained weights can start the Siamese training.
#[derive(Debug, Clone)]
pub struct SiameseNet {
    hidden: Vec<Linear>,
    mu: Linear,
}

impl SiameseNet {
    pub fn new(d: usize, hidden: &[usize], latent_dim: usize, vb: VarBuilder) -> Result<Self> {
        let mut layers = Vec::with_capacity(hidden.len());
        let mut fan_in = d;
        for (i, &h) in hidden.iter().enumerate() {
            layers.push(linear(fan_in, h, vb.pp(format!("l{i}")))?);
            fan_in = h;
        }
        let mu = linear(fan_in, latent_dim, vb.pp("mu"))?;
        Ok(SiameseNet { hidden: layers, mu })
    }
}

impl Module for SiameseNet {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mut h = x.clone();
        for l in &self.hidden {
            h = l.forward(&h)?.relu()?;
        }
        self.mu.forward(&h)
    }
}

/// Names and shapes of the parameters, in layer order.
pub fn parameter_shapes(d: usize, hidden: &[usize], latent_dim: usize) -> Vec<(String, Vec<usize>)> {
    let mut out = Vec::new();
    let mut fan_in = d;
    let names = (0..hidden.len()).map(|i| format!("l{i}")).chain(std::iter::once("mu".to_string()));
    for (name, fan_out) in names.zip(hidden.iter().copied().chain(std::iter::once(latent_dim))) {
        out.push((format!("{name}.weight"), vec![fan_out, fan_in]));
        out.push((format!("{name}.bias"), vec![fan_out]));
        fan_in = fan_out;
    }
    out
}

/// A `VarMap` holding either the caller's tensors or PyTorch-style uniform(±1/sqrt(fan_in))
/// values drawn from `rng`, so runs with the same seed start identically.
pub(crate) fn init_vars(d: usize, cfg: &SiameseConfig, init: Option<&HashMap<String, Tensor>>, device: &Device, rng: &mut ChaCha8Rng) -> Result<VarMap> {
    let vm = VarMap::new();
    {
        let mut store = vm.data().lock().expect("fresh VarMap lock");
        // Weights come before their bias in parameter_shapes, so fan_in is the current layer's.
        let mut fan_in = d;
        for (name, shape) in parameter_shapes(d, &cfg.hidden, cfg.latent_dim) {
            let t = match init {
                Some(map) => {
                    let t = map.get(&name).ok_or_else(|| GraphError::invalid("init", &name, "missing parameter"))?;
                    if t.dims() != shape.as_slice() {
                        return Err(GraphError::shape("init", format!("{name} {shape:?}"), format!("{:?}", t.dims())));
                    }
                    t.to_dtype(DType::F32)?.to_device(device)?
                }
                None => {
                    if shape.len() == 2 {
                        fan_in = shape[1];
                    }
                    let b = 1.0 / (fan_in as f32).sqrt();
                    let len: usize = shape.iter().product();
                    let v: Vec<f32> = (0..len).map(|_| rng.gen_range(-b..b)).collect();
                    Tensor::from_vec(v, shape.as_slice(), device)?
                }
            };
            // Var::from_tensor copies, so the caller's tensors are never modified.
            store.insert(name, Var::from_tensor(&t)?);
        }
    }
    Ok(vm)
}

/// Guards `sqrt` at 0, where its derivative is infinite.
const SQRT_EPS: f64 = 1e-9;

/// Mean over all pairs of `||e_a - e_b||^2` (positive pairs) and `max(margin - ||e_a - e_b||, 0)^2`
/// (negative pairs); pairs index rows of `emb`.
pub fn contrastive_loss(emb: &Tensor, positive: &[(u32, u32)], negative: &[(u32, u32)], margin: f32) -> Result<Tensor> {
    let count = positive.len() + negative.len();
    if count == 0 {
        return Err(GraphError::invalid("pairs", 0, "need at least one pair"));
    }
    let dev = emb.device();
    let sq_dist = |pairs: &[(u32, u32)]| -> Result<Tensor> {
        let a: Vec<u32> = pairs.iter().map(|p| p.0).collect();
        let b: Vec<u32> = pairs.iter().map(|p| p.1).collect();
        let ea = emb.index_select(&Tensor::from_vec(a, pairs.len(), dev)?, 0)?;
        let eb = emb.index_select(&Tensor::from_vec(b, pairs.len(), dev)?, 0)?;
        Ok((ea - eb)?.sqr()?.sum(1)?)
    };
    let mut total = Tensor::zeros((), emb.dtype(), dev)?;
    if !positive.is_empty() {
        total = (total + sq_dist(positive)?.sum_all()?)?;
    }
    if !negative.is_empty() {
        let dist = (sq_dist(negative)? + SQRT_EPS)?.sqrt()?;
        let hinge = dist.affine(-1.0, margin as f64)?.relu()?;
        total = (total + hinge.sqr()?.sum_all()?)?;
    }
    Ok((total / count as f64)?)
}

pub use crate::siamese_train::{embed, train_siamese};
