//! With the `cuda` feature: compiles the CUDA kernels of src/kernels/ to PTX with nvcc (the
//! driver JIT-compiles the PTX for the GPU it runs on). Without it: nothing.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=src/kernels/adamw.cu");
    println!("cargo:rerun-if-env-changed=CUDA_HOME");
    println!("cargo:rerun-if-env-changed=CUDA_COMPUTE_CAP");
    if std::env::var_os("CARGO_FEATURE_CUDA").is_none() {
        return;
    }
    let nvcc = std::env::var_os("CUDA_HOME").map(|h| PathBuf::from(h).join("bin/nvcc")).filter(|p| p.exists()).unwrap_or_else(|| "nvcc".into());
    // The same target as candle's kernels (scripts/build-cuda.sh sets it; 90 = the H100).
    let cap = std::env::var("CUDA_COMPUTE_CAP").unwrap_or_else(|_| "90".into());
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("adamw.ptx");
    let status = Command::new(&nvcc)
        .args(["--ptx", "-O3", &format!("-arch=compute_{cap}"), "src/kernels/adamw.cu", "-o"])
        .arg(&out)
        .status()
        .unwrap_or_else(|e| panic!("the cuda feature needs nvcc ({}): {e}; scripts/build-cuda.sh installs it", nvcc.display()));
    assert!(status.success(), "nvcc failed on src/kernels/adamw.cu");
}
