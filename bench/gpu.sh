#!/usr/bin/env bash
# Engine benchmark on CUDA: the article's setup (openai-whisper fp16) against faster-whisper in
# float16 and int8_float16, sequential and batched (batch 16, wasync's GPU default). Run from the
# repository root on a machine with an NVIDIA GPU, in an environment with `.[dev]` and a CUDA
# build of torch (`make test` pins the CPU build; there, `pip install -e ".[dev]"` without
# constraints.txt gets the CUDA one).
# The corpus is synthesised with espeak-ng and sox; on a machine without them, build it elsewhere
# (`python -m bench.corpus DIR`) and pass CORPUS=DIR. RUNS=1 shortens the run.
# Not yet timed on a GPU (no device was lent so far); expected well under 5 minutes on an H200.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
corpus=()
[ -n "${CORPUS:-}" ] && corpus=(--corpus "$CORPUS")
started=$SECONDS
"$PY" -m bench.engines --device cuda --runs "${RUNS:-3}" "${corpus[@]}" \
  --configs article,gpu-float16,gpu-int8_float16,gpu-float16-batched,gpu-int8_float16-batched
echo "bench/gpu.sh took $((SECONDS - started)) s"
