//! Device selection: CUDA when this build has it and a GPU answers, else the CPU, with the reason.

use crate::config::DeviceChoice;
use crate::error::{DggError, Result};
use candle_core::Device;

/// Whether this build was compiled with the `cuda` feature.
pub fn cuda_compiled() -> bool {
    cfg!(feature = "cuda")
}

/// The chosen device and a one-line reason, e.g. "cuda:0 (NVIDIA driver found)".
pub fn select(choice: DeviceChoice) -> Result<(Device, String)> {
    match choice {
        DeviceChoice::Cpu => Ok((Device::Cpu, "cpu (requested)".into())),
        DeviceChoice::Cuda => open_cuda().map_err(|why| DggError::DeviceUnavailable(format!("device 'cuda' requested, but {why}"))),
        DeviceChoice::Auto => Ok(open_cuda().unwrap_or_else(|why| (Device::Cpu, format!("cpu ({why})")))),
    }
}

#[cfg(feature = "cuda")]
fn open_cuda() -> std::result::Result<(Device, String), String> {
    // A missing driver makes cudarc panic rather than return an error: contain it.
    match std::panic::catch_unwind(|| Device::new_cuda(0)) {
        Ok(Ok(dev)) => Ok((dev, "cuda:0 (CUDA build, GPU found)".into())),
        // candle's error text carries a backtrace: keep its first line.
        Ok(Err(e)) => Err(format!("no usable GPU: {}", e.to_string().lines().next().unwrap_or(""))),
        Err(_) => Err("the CUDA driver could not be loaded".into()),
    }
}

#[cfg(not(feature = "cuda"))]
fn open_cuda() -> std::result::Result<(Device, String), String> {
    Err("this build of dgg-native has no CUDA support; the CUDA build is the optional package \
         dgg-native-linux-x64-gnu-cuda (linux x64; needs an NVIDIA driver for CUDA 13 and the CUDA 13 \
         runtime libraries; see the README's GPU section)"
        .into())
}

/// A short name for reports: "cpu" or "cuda:0".
pub fn name(device: &Device) -> String {
    match device {
        Device::Cpu => "cpu".into(),
        Device::Cuda(_) => "cuda:0".into(),
        _ => "other".into(),
    }
}
