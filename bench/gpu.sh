#!/usr/bin/env bash
# The GPU path, measured in one go, on a machine with an NVIDIA GPU (the device tool's H200, say):
#
#   bench/gpu.sh              install what is missing, run the unit tests on CUDA, then time one MNIST
#                             cell-generation and a 2x2 run on CUDA against the CPU
#   bench/gpu.sh --dry-run    everything but the CUDA parts, on the CPU (CI runs it)
#
# Nothing can be downloaded on the device machine: Python packages lpz needs and the image lacks travel
# as wheels in .whl/ (see NOTES.md, "GPU"), and MNIST in .mnist/ (copies of the four IDX files).
set -euo pipefail
cd "$(dirname "$0")/.."
DRY_RUN=0
[ "${1:-}" = "--dry-run" ] && DRY_RUN=1
PYTHON="${PYTHON:-$(command -v python3)}"
[ -x .venv/bin/python ] && [ "$DRY_RUN" = 1 ] && PYTHON=.venv/bin/python
say() { printf '\n== %s\n' "$*"; }

say "environment"
"$PYTHON" -c "import sys, torch; print(sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.cuda.is_available())"
if [ "$DRY_RUN" = 0 ]; then
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  "$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA GPU: use --dry-run')"
fi

if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
  say "installing the carried wheels"
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/lpz-site .whl/*.whl
  export PYTHONPATH="/tmp/lpz-site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

if [ -z "${LPZ_DATA_DIR:-}" ]; then
  for candidate in .mnist ../shared/data/mnist; do
    if [ -f "$candidate/train-images-idx3-ubyte.gz" ]; then
      export LPZ_DATA_DIR="$PWD/.gpu-data" LPZ_TEST_MNIST="$PWD/$candidate"
      mkdir -p .gpu-data && ln -sfn "$PWD/$candidate" .gpu-data/mnist
      break
    fi
  done
fi

DEVICE=cuda
[ "$DRY_RUN" = 1 ] && DEVICE=cpu
if [ "${LPZ_GPU_SH_SKIP_TESTS:-0}" != 1 ]; then
  say "unit tests with LPZ_DEVICE=$DEVICE"
  LPZ_DEVICE=$DEVICE "$PYTHON" -m pytest -q -m unit -p no:cacheprovider -x
fi

say "speed: one MNIST cell-generation and a 2x2 run"
"$PYTHON" bench/gpu_check.py --device "$DEVICE" --batches "${LPZ_GPU_BATCHES:-600}" --generations "${LPZ_GPU_GENERATIONS:-3}" \
  --rows "${LPZ_GPU_ROWS:-5}"
