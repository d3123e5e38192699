"""What one request on a short file costs, step by step (faster engine, CPU).

    python -m bench.fixed_cost [--runs 5] [--corpus DIR] [--quick]

On the held-out split's short clips: decoding the file, Silero VAD, the log-mel features,
language detection (multilingual base model), word timings, and whole transcriptions by the
sequential path, the batched path as it was (faster-whisper's pipeline: VAD, batching, word
timings for every file) and the batched path as it is (a file that fits one window goes the
sequential way). Each step is the median of `runs` passes over all the clips.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import corpus
from bench.metrics import Spread, time_runs


def _steps(files: list[corpus.CorpusFile], workdir: Path) -> dict[str, Callable[[], Any]]:
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    from tests.helpers import models
    from whisper_async.attributes import TranscribeOptions
    from whisper_async.serving.audio import decode_audio
    from whisper_async.serving.engines import FasterWhisperEngine, cpu_threads

    threads = cpu_threads({})
    english = FasterWhisperEngine(models.tiny_en_ctranslate2(), "tiny.en", "cpu", "int8", threads)
    base = FasterWhisperEngine(
        models.assemble_base(workdir / "base"), "base", "cpu", "int8", threads
    )
    clips = [decode_audio(f.path) for f in files]
    features = [english.model.feature_extractor(a) for a in clips]
    batched_vad = VadOptions(max_speech_duration_s=30, min_silence_duration_ms=160)

    def each(fn: Callable[[Any], Any], items: list[Any]) -> Callable[[], None]:
        return lambda: [fn(item) for item in items] and None

    def stock(audio: Any) -> None:
        found, _ = english.batched.transcribe(
            audio, batch_size=8, vad_filter=True, word_timestamps=True, beam_size=1
        )
        list(found)

    return {
        "decode the file (PyAV, 16 kHz mono)": each(decode_audio, [f.path for f in files]),
        "Silero VAD": each(lambda a: get_speech_timestamps(a, batched_vad), clips),
        "log-mel features": each(english.model.feature_extractor, clips),
        "language detection (base)": each(
            lambda f: base.model.detect_language(features=f), features
        ),
        "transcribe, sequential (the default)": each(
            lambda a: english.transcribe(a, TranscribeOptions(batch_size=1)), clips
        ),
        "transcribe, sequential, with word timings": each(
            lambda a: english.transcribe(a, TranscribeOptions(batch_size=1, word_timestamps=True)),
            clips,
        ),
        "transcribe, batch 8 as it was (VAD, batch, word timings)": each(stock, clips),
        "transcribe, batch 8 as it is (one window: sequential)": each(
            lambda a: english.transcribe(a, TranscribeOptions(batch_size=8)), clips
        ),
        "transcribe with language detection (base, sequential)": each(
            lambda a: base.transcribe(a, TranscribeOptions(batch_size=1)), clips
        ),
        "transcribe with language=en given (base, sequential)": each(
            lambda a: base.transcribe(a, TranscribeOptions(batch_size=1, language="en")), clips
        ),
    }


def measure(runs: int, directory: Path, workdir: Path) -> dict[str, Any]:
    files = [f for f in corpus.heldout_files(directory) if f.kind == "short" and f.language == "en"]
    timings: dict[str, Spread] = {}
    for name, step in _steps(files, workdir).items():
        timings[name], _ = time_runs(step, runs, warmup=1)
    return {"files": files, "timings": timings}


def report(result: dict[str, Any]) -> str:
    files = result["files"]
    timings: dict[str, Spread] = result["timings"]
    count = len(files)
    sequential = timings["transcribe, sequential (the default)"].median
    lines = [
        f"{count} held-out English short clips, {min(f.duration for f in files):.0f}-{max(f.duration for f in files):.0f} s "
        f"({sum(f.duration for f in files):.0f} s in all); per clip, median of the runs, and as a share of a sequential transcription:",
        "",
        "| step | per clip | share of a sequential transcription |",
        "|---|---|---|",
    ]
    for name, spread in timings.items():
        lines.append(
            f"| {name} | {1000 * spread.median / count:.0f} ms | {spread.median / sequential:.0%} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    return corpus.run_benchmark(argv, measure, report, runs=5)


if __name__ == "__main__":
    sys.exit(main())
