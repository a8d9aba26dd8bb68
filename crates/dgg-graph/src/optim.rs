//! Adam with decoupled weight decay, shared by every training loop of the project (the engine's
//! phases and the Siamese network) (the update of candle-nn's `AdamW`), fused into one pass per
//! parameter on the CPU: candle's version runs about a dozen single-threaded tensor ops per
//! parameter, which cost more than the network's GEMMs at the batch sizes DGG uses. Parameters on
//! other devices (or in f64) take the same update as a chain of tensor ops.

use crate::error::Result;
use candle_core::TensorId;
use std::collections::HashMap;
use candle_core::{CpuStorage, DType, Layout, Tensor, Var};
use candle_nn::ParamsAdamW;
use rayon::prelude::*;
use std::sync::Mutex;

/// Gradients by the id of the parameter tensor they belong to.
pub type Grads = HashMap<TensorId, Tensor>;

pub struct Adam {
    vars: Vec<Var>,
    moments: Vec<Moments>,
    params: ParamsAdamW,
    step: usize,
}

/// First and second moments of one variable: plain vectors for the fused CPU update, tensors on
/// the variable's device otherwise.
enum Moments {
    Cpu(Mutex<(Vec<f32>, Vec<f32>)>),
    Device { m: Tensor, v: Tensor },
}

impl Adam {
    pub fn new(vars: Vec<Var>, params: ParamsAdamW) -> Result<Self> {
        let moments = vars
            .iter()
            .map(|v| {
                Ok(if v.device().is_cpu() && v.dtype() == DType::F32 && v.is_contiguous() {
                    Moments::Cpu(Mutex::new((vec![0.0; v.elem_count()], vec![0.0; v.elem_count()])))
                } else {
                    Moments::Device { m: v.zeros_like()?, v: v.zeros_like()? }
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { vars, moments, params, step: 0 })
    }

    pub fn learning_rate(&self) -> f64 {
        self.params.lr
    }

    pub fn set_learning_rate(&mut self, lr: f64) {
        self.params.lr = lr;
    }

    /// Backpropagates `loss` with candle's autograd and applies the update.
    pub fn backward_step(&mut self, loss: &Tensor) -> Result<()> {
        let store = loss.backward()?;
        let grads: Grads = self.vars.iter().filter_map(|v| store.get(v.as_tensor()).map(|g| (v.id(), g.clone()))).collect();
        self.apply(&grads)
    }

    /// Applies one update from gradients keyed by parameter id; parameters without one keep still.
    pub fn apply(&mut self, grads: &Grads) -> Result<()> {
        self.step += 1;
        let p = &self.params;
        let update = AdamUpdate {
            lr: p.lr as f32,
            beta1: p.beta1 as f32,
            beta2: p.beta2 as f32,
            eps: p.eps as f32,
            decay: (1.0 - p.lr * p.weight_decay) as f32,
            correction1: (1.0 - p.beta1.powi(self.step as i32)) as f32,
            correction2: (1.0 - p.beta2.powi(self.step as i32)) as f32,
        };
        for (var, moments) in self.vars.iter().zip(self.moments.iter_mut()) {
            let Some(g) = grads.get(&var.id()) else { continue };
            match moments {
                Moments::Cpu(moments) => var.as_tensor().inplace_op2(&g.contiguous()?, &AdamOp { update: &update, moments })?,
                Moments::Device { m, v } => {
                    let (b1, b2) = (p.beta1, p.beta2);
                    *m = ((&*m * b1)? + (g * (1.0 - b1))?)?;
                    *v = ((&*v * b2)? + (g.sqr()? * (1.0 - b2))?)?;
                    let m_hat = (&*m / (1.0 - b1.powi(self.step as i32)))?;
                    let v_hat = (&*v / (1.0 - b2.powi(self.step as i32)))?;
                    let next = ((var.as_tensor() * (1.0 - p.lr * p.weight_decay))? - ((m_hat / (v_hat.sqrt()? + p.eps)?)? * p.lr)?)?;
                    var.set(&next)?;
                }
            }
        }
        Ok(())
    }
}

struct AdamUpdate {
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    decay: f32,
    correction1: f32,
    correction2: f32,
}

struct AdamOp<'a> {
    update: &'a AdamUpdate,
    moments: &'a Mutex<(Vec<f32>, Vec<f32>)>,
}

impl candle_core::InplaceOp2 for AdamOp<'_> {
    fn name(&self) -> &'static str {
        "fused-adamw"
    }

    fn cpu_fwd(&self, s1: &mut CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> candle_core::Result<()> {
        let (CpuStorage::F32(param), CpuStorage::F32(grad)) = (s1, s2) else {
            candle_core::bail!("fused-adamw: f32 only");
        };
        let (Some((p0, p1)), Some((g0, g1))) = (l1.contiguous_offsets(), l2.contiguous_offsets()) else {
            candle_core::bail!("fused-adamw: contiguous tensors only");
        };
        let mut guard = self.moments.lock().expect("moments lock");
        let (m, v) = &mut *guard;
        let u = self.update;
        const CHUNK: usize = 1 << 14;
        param[p0..p1]
            .par_chunks_mut(CHUNK)
            .zip(grad[g0..g1].par_chunks(CHUNK))
            .zip(m.par_chunks_mut(CHUNK).zip(v.par_chunks_mut(CHUNK)))
            .for_each(|((p, g), (m, v))| {
                for i in 0..p.len() {
                    m[i] = u.beta1 * m[i] + (1.0 - u.beta1) * g[i];
                    v[i] = u.beta2 * v[i] + (1.0 - u.beta2) * g[i] * g[i];
                    let m_hat = m[i] / u.correction1;
                    let v_hat = v[i] / u.correction2;
                    p[i] = p[i] * u.decay - u.lr * m_hat / (v_hat.sqrt() + u.eps);
                }
            });
        Ok(())
    }
}
