"""What a file with no voice costs the server, against speech of the same length.

    python -m bench.no_voice [--seconds 120] [--runs 3]

One fresh `wasync-serve` (faster engine, tiny.en, CPU), a warm-up request, then each file in
turn, `--runs` times, interleaved: speech (en_30s.wav over and over, the baseline), quiet hiss
(white noise at -54 dBFS: no digital silence, and the VAD hears no speech in it), a 440 Hz tone
and a 200-3000 Hz sweep. Each row gives the median request time and its ratio to the speech's.
Before the server skipped decoding where Silero hears not even faint voice, the hiss cost more
than the speech (each 30 s window ran through every temperature, and all it wrote was dropped).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from tests.helpers import models
from tests.helpers.processes import serve_process, wait_for_status
from whisper_async.serving.audio import SAMPLE_RATE, decode_audio

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
SECONDS = 120.0
DESCRIPTION = (
    "One `wasync-serve` (faster engine, tiny.en, CPU), files of the length given, interleaved: speech "
    "(en_30s.wav over and over, the baseline), quiet hiss (-54 dBFS), a 440 Hz tone and a "
    "200-3000 Hz sweep. Ratios are against the speech's median in the same run."
)


def _wav(path: Path, samples: np.ndarray) -> Path:
    import wave

    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype(np.int16).tobytes())
    return path


def files(seconds: float, folder: Path) -> dict[str, Path]:
    count = int(seconds * SAMPLE_RATE)
    moments = np.arange(count) / SAMPLE_RATE
    speech = np.resize(decode_audio(DATA / "en_30s.wav"), count)
    sweep = np.sin(2 * np.pi * (200 * moments + (2800 / (2 * seconds)) * moments**2))
    return {
        "speech (baseline)": _wav(folder / "speech.wav", speech),
        "quiet hiss": _wav(
            folder / "hiss.wav", np.random.default_rng(0).standard_normal(count) * 0.002
        ),
        "440 Hz tone": _wav(folder / "tone.wav", 0.5 * np.sin(2 * np.pi * 440 * moments)),
        "200-3000 Hz sweep": _wav(folder / "sweep.wav", 0.3 * sweep),
    }


def measure(seconds: float, runs: int, folder: Path) -> dict[str, tuple[list[float], int]]:
    """Per file: its request times and the characters of its transcript (first run)."""
    found: dict[str, tuple[list[float], int]] = {}
    made = files(seconds, folder)
    with serve_process(models.tiny_en_ctranslate2(), {}) as (_, url):
        wait_for_status(f"{url}/ping", 200, timeout=300)
        warm = (DATA / "en_short.wav").read_bytes()
        httpx.post(f"{url}/invocations", content=warm, timeout=600).raise_for_status()
        for _ in range(runs):
            for label, path in made.items():
                started = time.perf_counter()
                answer = httpx.post(f"{url}/invocations", content=path.read_bytes(), timeout=3600)
                answer.raise_for_status()
                times, characters = found.get(label, ([], len(answer.json()["text"])))
                found[label] = ([*times, time.perf_counter() - started], characters)
    return found


def report(found: dict[str, tuple[list[float], int]], seconds: float) -> str:
    base = statistics.median(found["speech (baseline)"][0])
    lines = [
        f"| {seconds:g} s of | request time, median [min-max] | of the speech's | transcript |",
        "|---|---|---|---|",
    ]
    for label, (times, characters) in found.items():
        median = statistics.median(times)
        lines.append(
            f"| {label} | {median:.2f} s [{min(times):.2f}-{max(times):.2f}] | "
            f"{median / base:.2f}x | {characters} characters |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=SECONDS)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="wasync-no-voice-") as folder:
        print(report(measure(args.seconds, args.runs, Path(folder)), args.seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
