"""Does the thread that creates a CTranslate2 model change how fast it decodes on CPU?

It does on the benchmark machine, which is why the faster engine creates its model on a helper
thread (`engines.on_helper_thread`). Each side runs in a fresh process: faster-whisper's
WhisperModel created on the main thread, or on a short-lived helper thread, then the same
sequential transcription of en_30s.wav on the main thread. The cause is not known: the
difference lies in CTranslate2's `generate` (the encoder is unaffected), it is not the
allocator arena (MALLOC_ARENA_MAX=1) nor OpenMP spinning (OMP_WAIT_POLICY=PASSIVE).

    python -m bench.thread_probe [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.corpus import DATA
from bench.metrics import Spread, time_runs

SIDES = ("main", "helper")


def child(side: str, model_dir: Path, runs: int) -> Spread:
    from faster_whisper import WhisperModel

    from whisper_async.serving.audio import decode_audio
    from whisper_async.serving.engines import cpu_threads, on_helper_thread

    def build() -> Any:
        return WhisperModel(
            str(model_dir), device="cpu", compute_type="int8", cpu_threads=cpu_threads(os.environ)
        )

    model = build() if side == "main" else on_helper_thread(build)
    audio = decode_audio(DATA / "en_30s.wav")
    timing, _ = time_runs(lambda: list(model.transcribe(audio, beam_size=1)[0]), runs, warmup=1)
    return timing


def measure(runs: int) -> dict[str, Spread]:
    from tests.helpers import models

    model_dir = models.tiny_en_ctranslate2()
    result = {}
    for side in SIDES:
        argv = [sys.executable, "-m", "bench.thread_probe", "--runs", str(runs)]
        out = subprocess.run(
            [*argv, "--child", side, str(model_dir)], capture_output=True, text=True, check=True
        )
        result[side] = Spread(**json.loads(out.stdout.strip().splitlines()[-1]))
    return result


def report(result: dict[str, Spread]) -> str:
    lines = ["| model created on | en_30s.wav, sequential greedy: median [min-max] |", "|---|---|"]
    for side in SIDES:
        t: Spread = result[side]
        lines.append(f"| {side} thread | {t.median:.2f} s [{t.minimum:.2f}-{t.maximum:.2f}] |")
    lines += [
        "",
        f"Created on the main thread, the model transcribes {result['helper'].ratio_to(result['main']):.2f}x "
        "as slowly as one created on a helper thread (ratio of medians, both transcribing on the main thread).",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", nargs=2, metavar=("SIDE", "MODEL_DIR"))
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    if args.child:
        side, model_dir = args.child
        print(json.dumps(asdict(child(side, Path(model_dir), args.runs))))
        return 0
    print(report(measure(args.runs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
