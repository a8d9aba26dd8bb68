//! Explicit gradients for the training steps.
//!
//! candle's autograd allocates a zero tensor and adds into it for every node of the graph, and runs
//! each element-wise op on one core; at the batch sizes DGG uses that costs more than the GEMMs.
//! The networks here are plain MLPs and the loss terms have short closed-form derivatives, so the
//! steps compute their gradients directly with candle ops (the same code on every device).
//! tests/loss.rs (`explicit_gradients_match_autograd`, `autoencoder_gradients_match_autograd`) checks
//! every gradient against candle's autograd.

use crate::error::Result;
use candle_core::{CpuStorage, DType, Layout, Shape, Tensor, D};
use candle_nn::Linear;
use rayon::prelude::*;

pub use dgg_graph::optim::Grads;

/// The inputs and (post-activation) outputs of each layer of one forward pass.
pub struct Trace {
    inputs: Vec<Tensor>,
    outputs: Vec<Tensor>,
}

impl Trace {
    /// Each layer's output (after its ReLU where it has one).
    pub fn outputs(&self) -> &[Tensor] {
        &self.outputs
    }
}

pub fn linear_forward(layer: &Linear, x: &Tensor) -> Result<Tensor> {
    let y = x.matmul(&layer.weight().t()?)?;
    Ok(match layer.bias() {
        Some(b) => y.broadcast_add(b)?,
        None => y,
    })
}

/// Accumulates dW = g^T x and db = sum_rows g for `layer`; returns dx = g W when asked.
pub fn linear_backward(layer: &Linear, x: &Tensor, g: &Tensor, grads: &mut Grads, need_dx: bool) -> Result<Option<Tensor>> {
    add(grads, layer.weight(), g.t()?.matmul(x)?)?;
    if let Some(b) = layer.bias() {
        // A row of ones times g: a GEMV on all cores, where a reduction over rows would use one.
        let ones = Tensor::ones((1, g.dim(0)?), g.dtype(), g.device())?;
        add(grads, b, ones.matmul(g)?.squeeze(0)?)?;
    }
    Ok(if need_dx { Some(g.matmul(layer.weight())?) } else { None })
}

pub fn add(grads: &mut Grads, param: &Tensor, g: Tensor) -> Result<()> {
    match grads.get_mut(&param.id()) {
        Some(acc) => *acc = (&*acc + g)?,
        None => {
            grads.insert(param.id(), g);
        }
    }
    Ok(())
}

/// g * (y > 0): the ReLU's backward pass from its output. One fused multi-threaded pass on the CPU
/// (f32), candle's element-wise ops elsewhere.
pub fn relu_backward(y: &Tensor, g: &Tensor) -> Result<Tensor> {
    if y.device().is_cpu() && y.dtype() == DType::F32 && g.dtype() == DType::F32 {
        return Ok(y.contiguous()?.apply_op2_no_bwd(&g.contiguous()?, &ReluGrad)?);
    }
    Ok((g * y.gt(0.0)?.to_dtype(g.dtype())?)?)
}

struct ReluGrad;

impl candle_core::CustomOp2 for ReluGrad {
    fn name(&self) -> &'static str {
        "relu-grad"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (CpuStorage::F32(y), CpuStorage::F32(g)) = (s1, s2) else { candle_core::bail!("relu-grad: f32 only") };
        let (Some((y0, y1)), Some((g0, g1))) = (l1.contiguous_offsets(), l2.contiguous_offsets()) else {
            candle_core::bail!("relu-grad: contiguous tensors only")
        };
        let mut out = vec![0f32; y1 - y0];
        out.par_chunks_mut(1 << 14).zip(y[y0..y1].par_chunks(1 << 14).zip(g[g0..g1].par_chunks(1 << 14))).for_each(|(o, (y, g))| {
            for i in 0..o.len() {
                o[i] = if y[i] > 0.0 { g[i] } else { 0.0 };
            }
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

impl crate::nn::Mlp {
    pub fn forward_trace(&self, x: &Tensor) -> Result<(Tensor, Trace)> {
        let mut trace = Trace { inputs: Vec::with_capacity(self.layers.len()), outputs: Vec::with_capacity(self.layers.len()) };
        let mut h = x.clone();
        for (i, layer) in self.layers.iter().enumerate() {
            trace.inputs.push(h.clone());
            h = linear_forward(layer, &h)?;
            if i + 1 < self.layers.len() || self.relu_last {
                h = h.relu()?;
            }
            trace.outputs.push(h.clone());
        }
        Ok((h, trace))
    }

    /// Backward pass from the gradient of the output; returns the gradient of the input when asked.
    pub fn backward(&self, trace: &Trace, g: &Tensor, grads: &mut Grads, need_dx: bool) -> Result<Option<Tensor>> {
        let mut g = g.clone();
        let last = self.layers.len() - 1;
        for i in (0..self.layers.len()).rev() {
            if i < last || self.relu_last {
                g = relu_backward(&trace.outputs[i], &g)?;
            }
            match linear_backward(&self.layers[i], &trace.inputs[i], &g, grads, i > 0 || need_dx)? {
                Some(dx) => g = dx,
                None => return Ok(None),
            }
        }
        Ok(Some(g))
    }
}

/// sigmoid(l) = 1 / (1 + e^-l).
pub fn sigmoid(l: &Tensor) -> Result<Tensor> {
    Ok((l.neg()?.exp()? + 1.0)?.recip()?)
}

/// Row sums as a column (P x 1).
pub fn row_sum(t: &Tensor) -> Result<Tensor> {
    Ok(t.sum_keepdim(D::Minus1)?)
}

pub fn scalar(t: &Tensor) -> Result<f64> {
    Ok(t.to_dtype(DType::F64)?.to_scalar::<f64>()?)
}
