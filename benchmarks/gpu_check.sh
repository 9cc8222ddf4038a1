#!/usr/bin/env bash
# GPU figures on a lent machine (no network there): the smoke recipe's node times, RM scoring
# throughput against a bf16 matmul peak, sampling tokens/s (transformers, and vLLM if present).
# Prepare here, then run there from the repository root:
#   make gpu-wheels                                   # .gpu-wheels/: what the image lacks
#   device tool: run(command="bash benchmarks/gpu_check.sh", carry=[".gpu-wheels"], timeout_s=540)
# The project itself comes from the checkout (PYTHONPATH), not from an install.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
SITE=${GPU_SITE:-/tmp/gpu-site}
if [ -d .gpu-wheels ]; then
  "$PY" -m pip install -q --no-deps --no-index --target "$SITE" .gpu-wheels/*.whl
fi
"$PY" -c 'import pyarrow, sys; v = pyarrow.__version__; print("pyarrow", v)
sys.exit(int(v.split(".")[0]) < 24)' || echo "pyarrow older than 24: datasets (smoke recipe) will fail"
export PYTHONPATH="$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}"
"$PY" -c 'import rlhf_eval.cli, trl, datasets, lm_eval, omegaconf, datasketch, confusable_homoglyphs' \
  || echo "some packages are missing: the smoke recipe will fail; scoring and sampling still run"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true
exec "$PY" benchmarks/gpu_check.py "$@"
