#!/usr/bin/env bash
# Creates benches/peers/.venv with the Python peers of the benchmarks (umap-learn, scikit-learn).
# Optional: the benches skip a peer, with a message, when this venv is absent.
#
#   setup.sh          the peers of `npm run bench:suite` (requirements.txt; about 0.5 GB)
#   setup.sh --torch  also PyTorch, the peer of `npm run bench:epoch` (requirements-torch.txt).
#                     Large: PyPI's Linux torch is the CUDA build and does not load without its
#                     CUDA libraries (cuBLAS, cuDNN, NCCL, ...), even on the CPU, so pip brings
#                     about 3.0 GB of downloads (torch 0.54 GB, the nvidia-*/cuda-* wheels 2.2 GB,
#                     triton 0.29 GB) that unpack to about 5.4 GB in the venv, and takes 5-10
#                     minutes. The peer only uses the CPU.
set -euo pipefail
cd "$(dirname "$0")"
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
.venv/bin/python -c "import umap, sklearn; print('peers ready: umap-learn', umap.__version__, 'scikit-learn', sklearn.__version__)"
if [ "${1:-}" = "--torch" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-torch.txt
  .venv/bin/python -c "import torch; torch.randn(2, 2) @ torch.randn(2, 2); print('pytorch peer ready: torch', torch.__version__, '(CPU)')"
fi
