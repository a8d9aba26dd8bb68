# Sourced by run.sh and fits.sh on the GPU machine, with BIN set: makes the CUDA 13 libraries that
# $BIN needs resolvable. LD_LIBRARY_PATH is set only if the loader cannot find them by itself, to the
# first CUDA 13 library folder that has them all; never lib64/stubs or cuda/compat (a stub libcuda
# or a compat driver there would shadow the real driver). Sets LIBDIR_USED (empty when none).
missing() { ldd "$BIN" 2>/dev/null | grep -c 'not found' || true; }
LIBDIR_USED=""
if [[ "$(missing)" != 0 ]]; then
  # GPU_CHECK_LIBDIRS: folders (space-separated) to try first.
  candidates=(${GPU_CHECK_LIBDIRS:-} /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/local/cuda-13*/lib64 /usr/local/cuda-13*/targets/x86_64-linux/lib)
  py_nvidia=$(python3 -c 'import nvidia, os; print(os.path.dirname(nvidia.__path__[0]) + "/nvidia/cu13/lib")' 2>/dev/null || true)
  [[ -n "$py_nvidia" ]] && candidates+=("$py_nvidia")
  for dir in "${candidates[@]}"; do
    [[ -d "$dir" ]] || continue
    case "$dir" in */stubs*|*/compat*) continue ;; esac
    if [[ "$(LD_LIBRARY_PATH="$dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" missing)" == 0 ]]; then
      export LD_LIBRARY_PATH="$dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
      LIBDIR_USED="$dir"
      break
    fi
  done
fi
