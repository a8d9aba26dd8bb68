#!/usr/bin/env bash
# The GPU check, run ON the GPU machine from the folder benches/gpu/prepare.sh made (it builds
# nothing there: no Rust, no Node, no network). Finishes within 8 minutes:
#   1. gpu_check --sections parity,epoch   (CPU/GPU parity of the DGG step, seconds per epoch)
#   2. pytorch_replica.py, if torch imports (the public code's step in PyTorch, same machine)
#   3. gpu_check --sections fit             (the whole pipeline on MNIST-70k, ACC/NMI), with a
#      deadline that leaves the run inside the 8 minutes (the epochs done by then are reported)
# and merges everything into $OUT/gpu-check.json (OUT defaults to ./out). Each part's JSON, stdout
# and log go to $OUT/parts.tar.gz (the device tool brings back at most 8 files), and the end of
# each log is printed last, so that a failure can be read from the output alone.
#
# Libraries: the binary needs libcuda.so.1 (the driver's) and libcublas.so.13, libcublasLt.so.13,
# libcurand.so.10, libnvrtc.so.13 (CUDA 13). LD_LIBRARY_PATH is set only if the loader cannot find
# them by itself, to the first CUDA 13 library folder that has them; never lib64/stubs or
# cuda/compat (a stub libcuda or a compat driver there would shadow the real driver).
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${OUT:-$HERE/out}"
mkdir -p "$OUT"
PARTS="$(mktemp -d)"
START=$(date +%s)
TOTAL_S="${GPU_CHECK_TOTAL_S:-450}"   # keep under 8 minutes (480 s) with a margin
elapsed() { echo $(( $(date +%s) - START )); }
log() { echo "[run.sh +$(elapsed)s] $*" >&2; }

BIN="$HERE/gpu_check"
# Extra gpu_check arguments, e.g. GPU_CHECK_ARGS="--device cpu --quick" for a dry run of this
# script on a machine without a GPU (with LD_LIBRARY_PATH=.cuda/stub:.cuda/cu13/lib set).
EXTRA="${GPU_CHECK_ARGS:-}"
MNIST="$HERE/mnist"

source "$HERE/libs.sh"
ldd "$BIN" > "$PARTS/ldd.txt" 2>&1 || true
log "library folder added: ${LIBDIR_USED:-none needed}; unresolved: $(missing)"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,compute_cap --format=csv,noheader > "$PARTS/nvidia-smi.txt" 2>&1 || true

# 1. Parity and epoch times.
log "gpu_check parity,epoch"
timeout -s KILL 180 "$BIN" --mnist "$MNIST" --out "$PARTS/gpu_check.json" --sections parity,epoch $EXTRA \
  > "$PARTS/gpu_check.stdout" 2> "$PARTS/gpu_check.log"
RC1=$?
log "gpu_check parity,epoch: exit $RC1"

# 2. The PyTorch replica.
RC2=skipped
if python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
  log "pytorch_replica"
  timeout -s KILL 120 python3 "$HERE/pytorch_replica.py" --mnist "$MNIST" --out "$PARTS/pytorch_replica.json" \
    > "$PARTS/pytorch_replica.stdout" 2> "$PARTS/pytorch_replica.log"
  RC2=$?
  log "pytorch_replica: exit $RC2"
else
  log "torch with CUDA not importable: replica skipped"
fi

# 3. The whole pipeline with what is left of the time.
BUDGET=$(( TOTAL_S - $(elapsed) - 30 ))
(( BUDGET < 60 )) && BUDGET=60
log "gpu_check fit (budget ${BUDGET}s)"
timeout -s KILL $(( BUDGET + 25 )) "$BIN" --mnist "$MNIST" --out "$PARTS/gpu_check_fit.json" --sections fit \
  --fit-budget-s "$BUDGET" $EXTRA > "$PARTS/gpu_check_fit.stdout" 2> "$PARTS/gpu_check_fit.log"
RC3=$?
log "gpu_check fit: exit $RC3"

# Merge.
python3 - "$PARTS" "$RC1" "$RC2" "$RC3" "${LIBDIR_USED:-}" "$(elapsed)" <<'EOF'
import json, os, sys
out, rc1, rc2, rc3, libdir, secs = sys.argv[1:]
def load(name):
    try:
        with open(os.path.join(out, name)) as f:
            return json.load(f)
    except Exception as e:
        return {"error": f"{name}: {e}"}
def text(name):
    try:
        with open(os.path.join(out, name)) as f:
            return f.read().strip()
    except Exception:
        return None
check = load("gpu_check.json")
fit = load("gpu_check_fit.json")
merged = {
    "bench": "gpu-check",
    "nvidia_smi": text("nvidia-smi.txt"),
    "ld_library_path_added": libdir or None,
    "ldd": text("ldd.txt"),
    "exit_codes": {"gpu_check": rc1, "pytorch_replica": rc2, "gpu_check_fit": rc3},
    "run_seconds": int(secs),
    "gpu_check": check,
    "fit": fit.get("fit", fit),
    "pytorch_replica": load("pytorch_replica.json") if rc2 != "skipped" else None,
}
with open(os.path.join(out, "gpu-check.json"), "w") as f:
    json.dump(merged, f, indent=2)
print(json.dumps({"parity_pass": check.get("parity", {}).get("pass"),
                  "epoch": [(r.get("batch"), r.get("seconds_per_epoch")) for r in check.get("epoch", {}).get("runs", [])],
                  "replica_s_per_epoch": (merged["pytorch_replica"] or {}).get("gpu_data", {}).get("seconds_per_epoch"),
                  "fit": {k: merged["fit"].get(k) for k in ("completed", "acc", "nmi", "seconds", "phase_seconds")}}))
EOF
cp "$PARTS/gpu-check.json" "$OUT/" 2>/dev/null || true
tar -czf "$OUT/parts.tar.gz" -C "$PARTS" .
for f in "$PARTS"/*.log; do
  echo "---- $(basename "$f") (last 25 lines)" >&2
  tail -n 25 "$f" >&2
done
log "done: $OUT/gpu-check.json, $OUT/parts.tar.gz"
[[ "$RC1" == 0 && "$RC3" == 0 ]]
