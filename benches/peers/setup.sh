#!/usr/bin/env bash
# Creates benches/peers/.venv with the Python peers of the benchmarks (umap-learn, scikit-learn).
# Optional: the benches skip a peer, with a message, when this venv is absent.
set -euo pipefail
cd "$(dirname "$0")"
python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
.venv/bin/python -c "import umap, sklearn; print('peers ready: umap-learn', umap.__version__, 'scikit-learn', sklearn.__version__)"
