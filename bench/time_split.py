"""Where the default engine's time goes, on the tuning split's English (faster engine, CPU).

    python -m bench.time_split [--corpus DIR] [--batch-size N]

One pass over the files under cProfile, after a warm-up; the time inside each of the native
calls that do the work (the encoder, the decoders, word timings, the VAD), as a share of the
whole. A diagnostic for choosing what to make faster, so it reads the tuning split only.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

from bench import corpus

# What does the work, as cProfile names it, and what each one is. The sequential decoder's
# native call is not seen by cProfile; its time is the wrapper's own.
PARTS = {
    "<built-in method ctranslate2._ext.encode>": "encoder (30 s windows, batched or not)",
    "<built-in method ctranslate2._ext.generate>": "batched decoder",
    "generate_with_fallback": "sequential decoder (temperature fallback)",
    "<built-in method ctranslate2._ext.align>": "word timings",
    "<built-in method onnxruntime.capi.onnxruntime_pybind11_state.run>": "Silero VAD",
}


def profile(directory: Path, batch_size: int | None) -> tuple[float, float, dict[str, float]]:
    """(wall seconds, audio seconds, seconds per part) of one pass over the English files."""
    from tests.helpers import models
    from whisper_async.attributes import TranscribeOptions
    from whisper_async.serving.audio import decode_audio
    from whisper_async.serving.engines import FasterWhisperEngine, cpu_threads

    files = [f for f in corpus.tuning_files(directory) if f.language == "en"]
    engine = FasterWhisperEngine(
        models.tiny_en_ctranslate2(), "tiny.en", "cpu", "int8", cpu_threads({})
    )
    options = TranscribeOptions(batch_size=batch_size)
    clips = [decode_audio(f.path) for f in files]
    engine.transcribe(clips[0], options)  # warm-up
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for audio in clips:
        engine.transcribe(audio, options)
    profiler.disable()
    wall = time.perf_counter() - started
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    seconds = dict.fromkeys(PARTS.values(), 0.0)
    for (_, _, function), (_, _, own, _, _) in stats.items():
        if function in PARTS:
            seconds[PARTS[function]] += own
    return wall, sum(len(a) for a in clips) / 16000, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", type=Path, default=corpus.DEFAULT_DIR)
    parser.add_argument("--batch-size", type=int, help="default: the engine's own")
    args = parser.parse_args(argv)
    corpus.ensure_built(args.corpus, ("tune",))
    wall, audio, seconds = profile(args.corpus, args.batch_size)
    print(f"{audio / 60:.1f} min of English (tuning split) in {wall:.1f} s\n")
    print("| part | seconds | share of the whole |\n|---|---|---|")
    for part, spent in seconds.items():
        print(f"| {part} | {spent:.1f} | {spent / wall:.0%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
