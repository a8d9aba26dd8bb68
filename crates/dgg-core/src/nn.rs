//! The networks: encoder f1, decoder g, classifier f2 and the mixture's parameters, all held in one
//! `VarMap` under stable names (`encoder.l0.weight`, `gmm.means`, ...) so checkpoints and the Siamese
//! initialisation can address them.

use crate::error::Result;
use candle_core::{DType, Device, Module, Tensor, Var};
use candle_nn::{Linear, VarMap};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// A linear layer created in `varmap` under `name`, initialised like PyTorch's default
/// (uniform in +-1/sqrt(fan_in) for weight and bias) from a seeded RNG so fits are reproducible.
pub fn linear(varmap: &VarMap, name: &str, fan_in: usize, fan_out: usize, rng: &mut ChaCha8Rng, dtype: DType, device: &Device) -> Result<Linear> {
    let bound = 1.0 / (fan_in as f32).sqrt();
    let w: Vec<f32> = (0..fan_in * fan_out).map(|_| rng.gen_range(-bound..bound)).collect();
    let b: Vec<f32> = (0..fan_out).map(|_| rng.gen_range(-bound..bound)).collect();
    let w = Tensor::from_vec(w, (fan_out, fan_in), device)?.to_dtype(dtype)?;
    let b = Tensor::from_vec(b, fan_out, device)?.to_dtype(dtype)?;
    Ok(Linear::new(insert(varmap, &format!("{name}.weight"), w)?, Some(insert(varmap, &format!("{name}.bias"), b)?)))
}

/// Registers `t` as a trainable variable and returns the tensor view the layers compute with
/// (it shares storage with the variable, so optimiser updates are seen).
pub fn insert(varmap: &VarMap, name: &str, t: Tensor) -> Result<Tensor> {
    let var = Var::from_tensor(&t)?;
    let view = var.as_tensor().clone();
    varmap.data().lock().expect("varmap lock").insert(name.to_string(), var);
    Ok(view)
}

/// The variables whose names start with `prefix` (one optimiser per phase trains a subset).
pub fn vars_with_prefix(varmap: &VarMap, prefixes: &[&str]) -> Vec<Var> {
    let data = varmap.data().lock().expect("varmap lock");
    let mut named: Vec<(&String, &Var)> = data.iter().filter(|(k, _)| prefixes.iter().any(|p| k.starts_with(p))).collect();
    named.sort_by(|a, b| a.0.cmp(b.0));
    named.into_iter().map(|(_, v)| v.clone()).collect()
}

/// Fully connected layers with ReLU between them (and after the last when `relu_last`).
#[derive(Clone)]
pub struct Mlp {
    pub layers: Vec<Linear>,
    pub relu_last: bool,
}

impl Mlp {
    pub fn new(varmap: &VarMap, prefix: &str, sizes: &[usize], relu_last: bool, rng: &mut ChaCha8Rng, dtype: DType, device: &Device) -> Result<Self> {
        let layers =
            sizes.windows(2).enumerate().map(|(i, w)| linear(varmap, &format!("{prefix}.l{i}"), w[0], w[1], rng, dtype, device)).collect::<Result<Vec<_>>>()?;
        Ok(Self { layers, relu_last })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = x.clone();
        for (i, layer) in self.layers.iter().enumerate() {
            h = layer.forward(&h)?;
            if i + 1 < self.layers.len() || self.relu_last {
                h = h.relu()?;
            }
        }
        Ok(h)
    }
}

/// f1: x -> (mu~, log sigma~^2). The trunk is `encoder.l*`, the heads `encoder.mu` and `encoder.logvar`.
#[derive(Clone)]
pub struct Encoder {
    pub trunk: Mlp,
    pub mu: Linear,
    pub logvar: Linear,
}

/// The bounds of the log-variance: keep sigma~ between e^-6 and e^3 so exp never overflows.
pub const LOGVAR_MIN: f64 = -12.0;
pub const LOGVAR_MAX: f64 = 6.0;

impl Encoder {
    pub fn new(varmap: &VarMap, d: usize, hidden: &[usize], m: usize, rng: &mut ChaCha8Rng, dtype: DType, device: &Device) -> Result<Self> {
        let mut sizes = vec![d];
        sizes.extend_from_slice(hidden);
        let trunk = Mlp::new(varmap, "encoder", &sizes, true, rng, dtype, device)?;
        let last = *sizes.last().expect("non-empty");
        let mu = linear(varmap, "encoder.mu", last, m, rng, dtype, device)?;
        let logvar = linear(varmap, "encoder.logvar", last, m, rng, dtype, device)?;
        Ok(Self { trunk, mu, logvar })
    }

    /// The mean embedding only (inference, k-means, the autoencoder phases).
    pub fn mean(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.mu.forward(&self.trunk.forward(x)?)?)
    }

    /// (mu~, log sigma~^2), the log-variance clamped.
    pub fn forward(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let h = self.trunk.forward(x)?;
        let logvar = self.logvar.forward(&h)?.clamp(LOGVAR_MIN, LOGVAR_MAX)?;
        Ok((self.mu.forward(&h)?, logvar))
    }
}

/// Everything DGG trains, in one `VarMap`.
pub struct Networks {
    pub varmap: VarMap,
    pub encoder: Encoder,
    /// g: z -> logits (Bernoulli) or means (Gaussian) of x.
    pub decoder: Mlp,
    /// f2: mu~ -> logits of q(c | z).
    pub classifier: Mlp,
    /// GMM means, K x M.
    pub means: Tensor,
    /// GMM log-variances, K x M (the variances stay positive through the exponential).
    pub logvars: Tensor,
}

/// The sizes that define the networks; stored with a saved model.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Shape {
    pub input_dim: usize,
    pub hidden: Vec<usize>,
    pub latent_dim: usize,
    pub n_clusters: usize,
    /// Hidden sizes of f2; empty for the linear classifier.
    pub classifier_hidden: Vec<usize>,
}

impl Networks {
    pub fn new(shape: &Shape, rng: &mut ChaCha8Rng, dtype: DType, device: &Device) -> Result<Self> {
        let varmap = VarMap::new();
        let (d, m, k) = (shape.input_dim, shape.latent_dim, shape.n_clusters);
        let encoder = Encoder::new(&varmap, d, &shape.hidden, m, rng, dtype, device)?;
        let mut dec_sizes = vec![m];
        dec_sizes.extend(shape.hidden.iter().rev());
        dec_sizes.push(d);
        let decoder = Mlp::new(&varmap, "decoder", &dec_sizes, false, rng, dtype, device)?;
        let mut cls_sizes = vec![m];
        cls_sizes.extend(&shape.classifier_hidden);
        cls_sizes.push(k);
        let classifier = Mlp::new(&varmap, "classifier", &cls_sizes, false, rng, dtype, device)?;
        let means = insert(&varmap, "gmm.means", Tensor::zeros((k, m), dtype, device)?)?;
        let logvars = insert(&varmap, "gmm.logvars", Tensor::zeros((k, m), dtype, device)?)?;
        Ok(Self { varmap, encoder, decoder, classifier, means, logvars })
    }

    /// Overwrites a parameter in place (initialisation from k-means, loading a checkpoint).
    /// A copy of every parameter, to [`Networks::restore`] later.
    pub fn snapshot(&self) -> Result<Vec<(String, Tensor)>> {
        let data = self.varmap.data().lock().expect("varmap lock");
        data.iter().map(|(k, v)| Ok((k.clone(), v.as_tensor().copy()?))).collect()
    }

    /// Sets every parameter of a [`Networks::snapshot`] back.
    pub fn restore(&self, snapshot: &[(String, Tensor)]) -> Result<()> {
        snapshot.iter().try_for_each(|(k, v)| self.set(k, v))
    }

    pub fn set(&self, name: &str, value: &Tensor) -> Result<()> {
        let data = self.varmap.data().lock().expect("varmap lock");
        let var = data.get(name).ok_or_else(|| candle_core::Error::Msg(format!("no parameter named {name}")))?;
        var.set(&value.to_dtype(var.dtype())?.to_device(var.device())?)?;
        Ok(())
    }
}
