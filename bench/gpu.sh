#!/usr/bin/env bash
# Engine and language benchmarks on CUDA, on the held-out split of the evaluation corpus:
# the article's setup (openai-whisper fp16) against faster-whisper in float16 and int8_float16,
# sequential and batched (batch 16: wasync's batched path, chunks cut in silence plus the passes
# that decode what a chunk's text left out), and faster-whisper's own batched pipeline; then
# language detection and CER/WER with the multilingual base model in every decoding mode.
# Each table says what it checked: the files, WER per synthesizer, deleted words and runs of
# >= 3 deleted words per long file, and language detection per file.
#
# Run from the repository root on a machine with an NVIDIA GPU, in an environment with `.[dev]`
# and a CUDA build of torch (`make test` pins the CPU build; there, `pip install -e ".[dev]"`
# without constraints.txt gets the CUDA one). The corpus needs flite, festival and kokoro to
# build; build it where they are (`bash bench/system-deps.sh && python -m bench.corpus
# bench/.corpus`) and copy the folder, or pass CORPUS=DIR. RUNS=1 shortens the run.
# On an H200 (2026-12-04, docs/benchmarks.md section 10) each process's first transcription took
# about 15 s (CUDA's start-up) and the article's setup about 30 s a run; with every
# configuration below, expect about 10 minutes there.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
CORPUS=${CORPUS:-bench/.corpus}
RUNS=${RUNS:-3}
SPLIT=${SPLIT:-heldout}  # or tune: where a choice for the GPU is made, before held-out figures
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
started=$SECONDS
echo "== English: $SPLIT split of $CORPUS, tiny.en, $RUNS interleaved runs =="
"$PY" -m bench.engines --device cuda --runs "$RUNS" --corpus "$CORPUS" --split "$SPLIT" --once stock-batched \
  --configs article,wasync-default,gpu-float16,gpu-float16-batched,gpu-int8_float16-batched,stock-batched
# One seed here: detection and CER/WER per language; the English runs above give the spread.
echo "== Languages: $SPLIT split of $CORPUS, multilingual base, one run =="
"$PY" -m bench.languages --device cuda --runs 1 --corpus "$CORPUS" --split "$SPLIT"
echo "bench/gpu.sh took $((SECONDS - started)) s"
