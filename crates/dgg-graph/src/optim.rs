//! Adam with decoupled weight decay, shared by every training loop of the project (the engine's
//! phases and the Siamese network) (the update of candle-nn's `AdamW`), fused into one pass per
//! parameter on the CPU: candle's version runs about a dozen single-threaded tensor ops per
//! parameter, which cost more than the network's GEMMs at the batch sizes DGG uses. On CUDA (f32)
//! the same update is one kernel per parameter (adamw_cuda.rs); f64 parameters take it as a chain
//! of tensor ops.

use crate::error::Result;
use candle_core::TensorId;
use candle_core::{CpuStorage, DType, Layout, Tensor, Var};
use candle_nn::ParamsAdamW;
use rayon::prelude::*;
use std::collections::HashMap;
use std::sync::Mutex;

/// Gradients by the id of the parameter tensor they belong to.
pub type Grads = HashMap<TensorId, Tensor>;

pub struct Adam {
    vars: Vec<Var>,
    moments: Vec<Moments>,
    params: ParamsAdamW,
    step: usize,
}

/// First and second moments of one variable: plain vectors for the fused CPU update, device
/// buffers for the fused CUDA kernel, tensors on the variable's device otherwise (f64).
enum Moments {
    Cpu(Mutex<(Vec<f32>, Vec<f32>)>),
    #[cfg(feature = "cuda")]
    Cuda(crate::adamw_cuda::CudaMoments),
    Device {
        m: Tensor,
        v: Tensor,
    },
}

impl Adam {
    pub fn new(vars: Vec<Var>, params: ParamsAdamW) -> Result<Self> {
        let moments = vars
            .iter()
            .map(|v| {
                let fused = v.dtype() == DType::F32 && v.is_contiguous();
                #[cfg(feature = "cuda")]
                if let (true, candle_core::Device::Cuda(dev)) = (fused, v.device()) {
                    return Ok(Moments::Cuda(crate::adamw_cuda::CudaMoments::zeros(dev, v.elem_count())?));
                }
                Ok(if v.device().is_cpu() && fused {
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
                #[cfg(feature = "cuda")]
                Moments::Cuda(moments) => var.as_tensor().inplace_op2(&g.contiguous()?, &crate::adamw_cuda::AdamCudaOp { update: &update, moments })?,
                Moments::Device { m, v } => {
                    // Detached: a gradient computed from the weights tracks its op graph, and a
                    // moment built on it would keep every step's graph (and its GPU memory) alive.
                    let g = &g.detach();
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

pub(crate) struct AdamUpdate {
    pub(crate) lr: f32,
    pub(crate) beta1: f32,
    pub(crate) beta2: f32,
    pub(crate) eps: f32,
    pub(crate) decay: f32,
    pub(crate) correction1: f32,
    pub(crate) correction2: f32,
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
        param[p0..p1].par_chunks_mut(CHUNK).zip(grad[g0..g1].par_chunks(CHUNK)).zip(m.par_chunks_mut(CHUNK).zip(v.par_chunks_mut(CHUNK))).for_each(
            |((p, g), (m, v))| {
                for i in 0..p.len() {
                    m[i] = u.beta1 * m[i] + (1.0 - u.beta1) * g[i];
                    v[i] = u.beta2 * v[i] + (1.0 - u.beta2) * g[i] * g[i];
                    let m_hat = m[i] / u.correction1;
                    let v_hat = v[i] / u.correction2;
                    p[i] = p[i] * u.decay - u.lr * m_hat / (v_hat.sqrt() + u.eps);
                }
            },
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// The tensor path (every device but the CPU's f32) must not keep the gradients' op graphs:
    /// moments that did would chain every step's graph and grow GPU memory without bound.
    #[test]
    fn device_moments_hold_no_graph() {
        let w = Var::from_tensor(&Tensor::ones(4, DType::F64, &Device::Cpu).unwrap()).unwrap();
        let mut opt = Adam::new(vec![w.clone()], ParamsAdamW { lr: 0.1, ..Default::default() }).unwrap();
        for _ in 0..3 {
            // d/dw sum(w^2) = 2w: computed from the variable, so the gradient tracks its graph.
            let store = w.as_tensor().sqr().unwrap().sum_all().unwrap().backward().unwrap();
            let g = store.get(w.as_tensor()).unwrap().clone();
            assert!(g.track_op(), "the test needs a gradient that tracks its graph");
            opt.apply(&Grads::from([(w.id(), g)])).unwrap();
        }
        let Moments::Device { m, v } = &opt.moments[0] else { panic!("f64 takes the tensor path") };
        assert!(!m.track_op() && !v.track_op(), "the moments keep the gradients' graphs alive");
    }
}
