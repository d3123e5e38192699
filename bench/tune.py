"""Tuning experiments for the batched path, on the tuning split only.

    python -m bench.tune [--corpus DIR] [--strategies a,b,...]

This is the one place where chunking parameters are compared. It reads the corpus through
`corpus.tuning_files`, which refuses held-out files, so no decision made from its output has seen
the held-out split. The benchmark (bench/engines.py) then reports the chosen default on the
held-out split.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench import corpus, scoring

Strategy = Callable[[Any, Any], str]


def strategies(engine: Any) -> dict[str, Strategy]:
    from whisper_async.attributes import TranscribeOptions
    from whisper_async.serving.chunks import ChunkRules

    def stock(audio: Any, _: Any) -> str:
        """faster-whisper's own batched pipeline: VAD regions glued into 30 s chunks."""
        found, _info = engine.batched.transcribe(audio, batch_size=8, vad_filter=True, beam_size=1)
        return "".join(piece.text for piece in found)

    def with_rules(rules: ChunkRules) -> Strategy:
        def run(audio: Any, _: Any) -> str:
            engine.chunking = rules
            return engine.transcribe(audio, TranscribeOptions(batch_size=8)).text

        return run

    base = ChunkRules()
    return {
        "sequential": lambda audio, _: (
            engine.transcribe(audio, TranscribeOptions(batch_size=1)).text
        ),
        "stock-batched": stock,
        "silence-cut": with_rules(base),
        "silence-cut-1pass": with_rules(replace(base, max_passes=1)),
        "silence-cut-160ms": with_rules(replace(base, min_silence_ms=160)),
        "silence-cut-600ms": with_rules(replace(base, min_silence_ms=600)),
        "silence-cut-pad400": with_rules(replace(base, speech_pad_ms=400)),
    }


def run(directory: Path, chosen: list[str], kinds: tuple[str, ...] = ("short", "long")) -> None:
    from tests.helpers import models
    from whisper_async.serving.audio import decode_audio
    from whisper_async.serving.engines import FasterWhisperEngine, cpu_threads

    files = [f for f in corpus.tuning_files(directory) if f.language == "en" and f.kind in kinds]
    engine = FasterWhisperEngine(
        models.tiny_en_ctranslate2(), "tiny.en", "cpu", "int8", cpu_threads({})
    )
    audio = {f.name: decode_audio(f.path) for f in files}
    table = strategies(engine)
    print(
        "| strategy | seconds | WER | deletions per long file | runs >= 3 per long file | lost phrases |"
    )
    print("|---|---|---|---|---|---|")
    for name in chosen:
        started = time.perf_counter()
        scored = [scoring.score(f, table[name](audio[f.name], f)) for f in files]
        seconds = time.perf_counter() - started
        longs = [s for s in scored if s.file.kind == "long"]
        lost = [p for s in longs for p in scoring.lost_phrases(s)]
        print(
            f"| {name} | {seconds:.0f} | {scoring.rate(scored):.3f} "
            f"| {', '.join(str(s.deletions) for s in longs)} | {', '.join(str(len(s.runs)) for s in longs)} "
            f"| {'; '.join(lost)[:300]} |",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=corpus.DEFAULT_DIR)
    parser.add_argument("--strategies", default="sequential,stock-batched,silence-cut")
    parser.add_argument("--long-only", action="store_true", help="only the long files")
    args = parser.parse_args(argv)
    corpus.ensure_built(args.corpus, ("tune",))
    run(args.corpus, args.strategies.split(","), ("long",) if args.long_only else ("short", "long"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
