#!/usr/bin/env bash
# The default MNIST fit on the GPU, and variants of it: run ON the GPU machine from the folder that
# benches/gpu/prepare.sh made (no Rust, no Node, no network there). One `gpu_check --sections fit`
# per variant, one after another (each alone on the GPU, so each time is clean), within TOTAL_S
# seconds in all; a fit still running at its deadline is cancelled and reports the epochs done.
#
#   fits.sh                       the variants below, 420 s in all
#   GPU_FITS=$'default|\nlatent|--graph latent' GPU_FIT_TOTAL_S=300 fits.sh
#
# GPU_FITS: one variant per line, "name|gpu_check arguments" (e.g. --graph latent, --seed 43,
# --override '{"neighbours":20}'). The first variant is the plain default fit: only K = 10 given.
# Writes $OUT/fit-<name>.json for each, and $OUT/fits.json (a summary line per variant, printed too).
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${OUT:-$HERE/out}"
mkdir -p "$OUT"
START=$(date +%s)
TOTAL_S="${GPU_FIT_TOTAL_S:-420}"
CAP_S="${GPU_FIT_CAP_S:-240}"     # the most one variant may take
elapsed() { echo $(( $(date +%s) - START )); }
log() { echo "[fits.sh +$(elapsed)s] $*" >&2; }
BIN="$HERE/gpu_check"
MNIST="$HERE/mnist"
EXTRA="${GPU_CHECK_ARGS:-}"
source "$HERE/libs.sh"
log "library folder added: ${LIBDIR_USED:-none needed}; unresolved: $(missing)"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader >&2 || true

VARIANTS="${GPU_FITS:-default|
latent|--graph latent
siamese|--graph siamese}"

while IFS='|' read -r name args; do
  [[ -z "$name" ]] && continue
  left=$(( TOTAL_S - $(elapsed) - 20 ))
  if (( left < 60 )); then
    log "$name: skipped (${left}s left)"
    continue
  fi
  budget=$(( left < CAP_S ? left : CAP_S ))
  log "$name: gpu_check --sections fit $args (budget ${budget}s)"
  eval "set -- $args"
  timeout -s KILL $(( budget + 20 )) "$BIN" --mnist "$MNIST" --out "$OUT/fit-$name.json" --sections fit \
    --fit-budget-s "$budget" "$@" $EXTRA > "$OUT/fit-$name.stdout" 2> "$OUT/fit-$name.log"
  log "$name: exit $?"
  tail -n 5 "$OUT/fit-$name.log" >&2
done <<< "$VARIANTS"

python3 - "$OUT" <<'EOF'
import glob, json, os, sys
out = sys.argv[1]
rows = []
for path in sorted(glob.glob(os.path.join(out, "fit-*.json"))):
    try:
        fit = json.load(open(path)).get("fit", {})
    except Exception as e:
        fit = {"error": str(e)}
    rows.append({"variant": os.path.basename(path)[4:-5], **{k: fit.get(k) for k in
                 ("completed", "acc", "nmi", "ari", "seconds", "phase_seconds", "device", "error")}})
json.dump(rows, open(os.path.join(out, "fits.json"), "w"), indent=1)
for r in rows:
    print(json.dumps(r))
EOF
# Logs and stdout into one archive: the device tool brings back at most 8 files.
tar -czf "$OUT/fit-logs.tar.gz" -C "$OUT" $(cd "$OUT" && ls fit-*.log fit-*.stdout 2>/dev/null) && rm -f "$OUT"/fit-*.log "$OUT"/fit-*.stdout
log "done"
