#!/usr/bin/env bash
# Engine benchmark on CUDA: the article's setup (openai-whisper fp16) against faster-whisper in
# float16 and int8_float16, batched and not. Run from the repository root on a machine with an
# NVIDIA GPU, in an environment with `.[dev]` and a CUDA build of torch (`make test` pins the
# CPU build; there, `pip install -e ".[dev]"` without constraints.txt gets the CUDA one).
# Not yet timed on a GPU (no device was lent so far); expected well under 5 minutes on an H200.
# RUNS=1 LONG_REPEATS=5 shrinks it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
"$PY" -m bench.engines --device cuda --runs "${RUNS:-3}" --long-repeats "${LONG_REPEATS:-20}" \
  --configs article,gpu-float16,gpu-int8_float16,gpu-float16-batched,gpu-int8_float16-batched
