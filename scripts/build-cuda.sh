#!/usr/bin/env bash
# Builds the CUDA artefacts of dgg-native on a machine without a GPU, in one go:
#
#   (A) native-cuda/dgg-native.linux-x64-gnu.node (+ index.d.ts): the Node addon with the
#       `cuda` feature, a separate artefact next to the CPU addon in native/ (never replaces it),
#       also copied into the optional package npm/linux-x64-gnu-cuda/.
#       The SDK loads it first when that folder exists and falls back to native/ when it cannot
#       load (no CUDA 13 libraries); `npx dgg-native info` says which loaded and why;
#   (B) target/cuda/x86_64-unknown-linux-gnu/release/gpu_check: the standalone GPU check
#       (benches/src/bin/gpu_check.rs).
#
# Steps:
#   1. installs the pinned CUDA 13.0 toolchain from PyPI wheels under the git-ignored .cuda/
#      (each wheel in its own .cuda/py/<name>; `pip --target` would skip the shared `nvidia/`
#      folder of a second wheel, so each is installed alone and then merged into .cuda/cu13 by
#      hard links);
#   2. makes the unversioned .so links the linker needs (cudart, cublas, cublasLt, nvrtc, curand);
#   3. generates a stub libcuda.so (SONAME libcuda.so.1) from the driver API names in cuda.h:
#      used ONLY at link time; at run time the driver's own libcuda.so.1 is loaded;
#   4. builds (A) and (B) with CARGO_TARGET_DIR=target/cuda (never touches target/release).
#
# Idempotent: wheels already installed are skipped, the stub is rebuilt only when cuda.h changes,
# cargo rebuilds only what changed. Each step prints its duration.
#
# Environment knobs:
#   CUDA_COMPUTE_CAP  default 90: sm_90a code for the H100 (Hopper only). Use 80 for PTX that
#                     the driver JIT-compiles on any GPU from Ampere on (portable, slower start).
#   CARGO_BUILD_JOBS  passed through to cargo as usual.
#   SKIP_ADDON=1 / SKIP_GPU_CHECK=1  build only one of the two artefacts.
#
# Measured on the 2-core build machine (no GPU; the cores shared with other builds), from an
# empty .cuda/ and target/cuda/:
#   wheels: ~1 GB download ~30 s, install 21 s (from pip's cache); links + stub: < 1 s;
#   (A) addon: 867 s (most of it nvcc/ptxas on candle's kernels, and candle itself);
#   (B) gpu_check after (A): ~30 s (everything shared with (A));
#   total ~15.5 min. A second run with nothing changed: ~5 s.
# Sizes: addon .node 61.5 MB (33 MB of it SASS for sm_90a, 12 MB PTX), gpu_check 56 MB.
# The CPU addon (native/*.node from `npm run build`) is untouched and has no CUDA dependency; the
# CUDA artefacts load libcuda.so.1, libcublas.so.13 (-> libcublasLt.so.13), libcurand.so.10 and
# libcudart.so.13 dynamically (NEEDED entries, no RPATH); no nvrtc symbol is referenced (the linker
# drops libnvrtc), but the wheel is installed for cudarc's build.
# Requires: python3 with pip, gcc, cargo, node/npm (npx napi from the project's devDependencies).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CUDA_DIR="$ROOT/.cuda"
CU13="$CUDA_DIR/cu13"          # CUDA_HOME: the merged nvidia/cu13 trees of the wheels
STUB_DIR="$CUDA_DIR/stub"      # stub libcuda.so (link time only)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target/cuda}"
TRIPLE="$(rustc -vV | sed -n 's/^host: //p')"

# CUDA 13.0 exactly (the GPU machine's driver 580 = CUDA 13.0 rejects PTX of a newer nvcc);
# cublas/curand/nvrtc at or below the GPU machine's (cublas 13.1.0.3, curand 10.4.0.35).
WHEELS=(
  nvidia-cuda-nvcc==13.0.88
  nvidia-cuda-crt==13.0.88
  nvidia-nvvm==13.0.88
  nvidia-cuda-runtime==13.0.96
  nvidia-cuda-cccl==13.0.85
  nvidia-cuda-nvrtc==13.0.88
  nvidia-cublas==13.1.0.3
  nvidia-curand==10.4.0.35
)

T_ALL=$(date +%s)
step_start() { T_STEP=$(date +%s); echo "==> $1"; }
step_end() { echo "    done in $(( $(date +%s) - T_STEP )) s"; }

# 1. Wheels -------------------------------------------------------------------------------------
step_start "CUDA 13.0 wheels into $CUDA_DIR/py"
mkdir -p "$CUDA_DIR/py" "$CU13"
for spec in "${WHEELS[@]}"; do
  name="${spec%%==*}"; ver="${spec##*==}"
  dir="$CUDA_DIR/py/$name"
  dist="$dir/${name//-/_}-$ver.dist-info"
  merged="$CU13/.merged-$name-$ver"
  if [[ -d "$dist" ]]; then
    echo "    $spec: installed"
  else
    echo "    $spec: installing"
    rm -rf "$dir" "$merged"
    python3 -m pip install --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
      --target "$dir" "$spec" 2>&1 | grep -v "Running pip as the 'root' user" || true
    [[ -d "$dist" ]] || { echo "error: $spec did not install $dist" >&2; exit 1; }
  fi
  if [[ ! -e "$merged" ]]; then
    # cu13 wheels put their files under nvidia/cu13/{bin,include,lib,nvvm,...}; merge them by hard
    # links (no second copy of ~1.2 GB).
    [[ -d "$dir/nvidia/cu13" ]] || { echo "error: $spec has no nvidia/cu13 folder" >&2; exit 1; }
    cp -alf "$dir/nvidia/cu13/." "$CU13/"
    touch "$merged"
  fi
done
# nvcc finds cicc/ptxas relative to itself; some wheels ship binaries without the x bit.
chmod +x "$CU13"/bin/* "$CU13"/nvvm/bin/* 2>/dev/null || true
[[ -d "$CU13/lib64" || -e "$CU13/lib64" ]] || ln -s lib "$CU13/lib64"
"$CU13/bin/nvcc" --version | tail -2
step_end

# 2. Unversioned .so links ------------------------------------------------------------------------
step_start "unversioned .so links in $CU13/lib"
for lib in cudart cublas cublasLt nvrtc curand; do
  if [[ ! -e "$CU13/lib/lib$lib.so" ]]; then
    real=$(cd "$CU13/lib" && ls lib$lib.so.* 2>/dev/null | sort -V | head -1)
    [[ -n "$real" ]] || { echo "error: no lib$lib.so.* in $CU13/lib" >&2; exit 1; }
    ln -sf "$real" "$CU13/lib/lib$lib.so"
  fi
  echo "    lib$lib.so -> $(readlink "$CU13/lib/lib$lib.so")"
done
step_end

# 3. Stub libcuda.so ------------------------------------------------------------------------------
step_start "stub libcuda.so (SONAME libcuda.so.1, link time only) in $STUB_DIR"
mkdir -p "$STUB_DIR"
STUB_SRC="$ROOT/scripts/cuda-stub/gen-libcuda-stub.sh"
stamp="$(sha256sum "$CU13/include/cuda.h" "$STUB_SRC" | sha256sum | cut -c1-16)"
if [[ -f "$STUB_DIR/libcuda.so" && "$(cat "$STUB_DIR/.stamp" 2>/dev/null)" == "$stamp" ]]; then
  echo "    up to date"
else
  bash "$STUB_SRC" "$CU13/include/cuda.h" "$STUB_DIR"
  echo "$stamp" > "$STUB_DIR/.stamp"
fi
step_end

# 4. Environment and builds ---------------------------------------------------------------------
export CUDA_HOME="$CU13" CUDA_PATH="$CU13" CUDA_ROOT="$CU13"
export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}"
export CUDARC_CUDA_VERSION=13000
export PATH="$CU13/bin:$PATH"
export LIBRARY_PATH="$STUB_DIR:$CU13/lib${LIBRARY_PATH:+:$LIBRARY_PATH}"
# Stub and wheel libraries are for the linker only: build scripts that run do not need them,
# and nothing built here is run here with them.
echo "    CUDA_HOME=$CUDA_HOME CUDA_COMPUTE_CAP=$CUDA_COMPUTE_CAP CUDARC_CUDA_VERSION=$CUDARC_CUDA_VERSION"
echo "    CARGO_TARGET_DIR=$CARGO_TARGET_DIR"

if [[ "${SKIP_ADDON:-0}" != 1 ]]; then
  step_start "(A) CUDA Node addon -> native-cuda"
  mkdir -p "$ROOT/native-cuda"
  npx napi build --platform --release --manifest-path crates/dgg-node/Cargo.toml \
    --package-json-path package.json -F cuda -o native-cuda --no-js --dts index.d.ts
  # The same file is the optional package dgg-native-linux-x64-gnu-cuda (npm/linux-x64-gnu-cuda/).
  cp -f "$ROOT/native-cuda/dgg-native.linux-x64-gnu.node" "$ROOT/npm/linux-x64-gnu-cuda/dgg-native.linux-x64-gnu-cuda.node"
  ls -l "$ROOT"/native-cuda/*.node
  step_end
fi

if [[ "${SKIP_GPU_CHECK:-0}" != 1 ]]; then
  # Shares every compiled crate with (A), candle-kernels' nvcc output included: the same explicit
  # --target as `napi build`, and dgg-node selected too (only gpu_check is built) so that features
  # unify as in (A) (napi-derive turns on syn's "full": without it every crate above syn, candle
  # included, would be a second build, ~12 more minutes).
  step_start "(B) gpu_check -> $CARGO_TARGET_DIR/$TRIPLE/release/gpu_check"
  cargo build --release -p dgg-benches -p dgg-node --features dgg-benches/cuda,dgg-node/cuda \
    --bin gpu_check --target "$TRIPLE"
  ls -l "$CARGO_TARGET_DIR/$TRIPLE/release/gpu_check"
  step_end
fi

echo "==> total $(( $(date +%s) - T_ALL )) s"
