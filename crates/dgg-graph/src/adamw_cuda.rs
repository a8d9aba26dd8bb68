//! The fused AdamW update on CUDA (src/kernels/adamw.cu, compiled to PTX by build.rs): one kernel
//! launch per parameter tensor. Its moments live on the device as raw f32 buffers.

use candle_core::cuda_backend::cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};
use candle_core::cuda_backend::{CudaDevice, WrapErr};
use candle_core::{CpuStorage, CudaStorage, Layout};
use std::sync::Mutex;

const PTX: &str = include_str!(concat!(env!("OUT_DIR"), "/adamw.ptx"));

/// First and second moments of one parameter, on its GPU.
pub struct CudaMoments(Mutex<(CudaSlice<f32>, CudaSlice<f32>)>);

impl CudaMoments {
    pub fn zeros(dev: &CudaDevice, n: usize) -> candle_core::Result<Self> {
        Ok(Self(Mutex::new((dev.alloc_zeros::<f32>(n)?, dev.alloc_zeros::<f32>(n)?))))
    }
}

pub struct AdamCudaOp<'a> {
    pub update: &'a super::optim::AdamUpdate,
    pub moments: &'a CudaMoments,
}

impl candle_core::InplaceOp2 for AdamCudaOp<'_> {
    fn name(&self) -> &'static str {
        "fused-adamw-cuda"
    }

    fn cpu_fwd(&self, _: &mut CpuStorage, _: &Layout, _: &CpuStorage, _: &Layout) -> candle_core::Result<()> {
        candle_core::bail!("fused-adamw-cuda: CUDA tensors only")
    }

    fn cuda_fwd(&self, s1: &mut CudaStorage, l1: &Layout, s2: &CudaStorage, l2: &Layout) -> candle_core::Result<()> {
        let (Some((p0, p1)), Some((g0, g1))) = (l1.contiguous_offsets(), l2.contiguous_offsets()) else {
            candle_core::bail!("fused-adamw-cuda: contiguous tensors only")
        };
        let n = p1 - p0;
        let mut guard = self.moments.0.lock().expect("moments lock");
        let (m, v) = &mut *guard;
        if g1 - g0 != n || m.len() != n || v.len() != n {
            candle_core::bail!("fused-adamw-cuda: parameter, gradient and moments differ in size")
        }
        let func = s1.device.get_or_load_custom_func("adamw_f32", "dgg_adamw", PTX)?;
        let g = s2.as_cuda_slice::<f32>()?.slice(g0..g1);
        let p = s1.as_cuda_slice_mut::<f32>()?;
        let mut p = p.slice_mut(p0..p1);
        let u = self.update;
        let n32 = u32::try_from(n).map_err(|_| candle_core::Error::Msg("fused-adamw-cuda: tensor too large".into()))?;
        let mut b = func.builder();
        b.arg(&mut p);
        b.arg(&g);
        b.arg(m);
        b.arg(v);
        b.arg(&n32);
        b.arg(&u.lr);
        b.arg(&u.beta1);
        b.arg(&u.beta2);
        b.arg(&u.eps);
        b.arg(&u.decay);
        b.arg(&u.correction1);
        b.arg(&u.correction2);
        // SAFETY: the kernel reads and writes n elements of each buffer, all checked to hold n.
        unsafe { b.launch(LaunchConfig::for_num_elems(n32)) }.w()?;
        Ok(())
    }
}
