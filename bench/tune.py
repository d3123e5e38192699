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
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench import corpus, scoring

Strategy = Callable[[Any, Any], str]

ENCODER_TAILS = (300, 500, 700, 1000, 1500)  # frames of padding kept after a window's content


def with_attribute(target: Any, name: str, value: Any, strategy: Strategy) -> Strategy:
    """`strategy` with `target.name` set to `value`, and restored afterwards: the encoder's tail
    (serving/encoder_input.py) or the detected stretches' (`detection_tail_frames`), None for
    whole 30 s windows."""

    def run(audio: Any, file: Any) -> str:
        before = getattr(target, name)
        setattr(target, name, value)
        try:
            return strategy(audio, file)
        finally:
            setattr(target, name, before)

    return run


def strategies(engine: Any) -> dict[str, Strategy]:
    from whisper_async.attributes import TranscribeOptions
    from whisper_async.serving.chunks import ChunkRules

    def stock(audio: Any, _: Any) -> str:
        """faster-whisper's own batched pipeline: VAD regions glued into 30 s chunks."""
        found, _info = engine.batched.transcribe(audio, batch_size=8, vad_filter=True, beam_size=1)
        return "".join(piece.text for piece in found)

    def with_rules(rules: ChunkRules, batch_size: int = 8) -> Strategy:
        def run(audio: Any, _: Any) -> str:
            engine.chunking, engine.decode_unheard = rules, True
            return engine.transcribe(audio, TranscribeOptions(batch_size=batch_size)).text

        return run

    def sequential(rules: ChunkRules, unheard: bool) -> Strategy:
        """wasync's default; `unheard=False` without the second pass and the silence filter
        (both need the voice regions of audio over one window)."""

        def run(audio: Any, _: Any) -> str:
            engine.chunking, engine.decode_unheard = rules, unheard
            return engine.transcribe(audio, TranscribeOptions(batch_size=1)).text

        return run

    def direct(**kwargs: Any) -> Strategy:
        """faster-whisper's sequential transcribe, greedy, with these options."""

        def run(audio: Any, _: Any) -> str:
            found, _info = engine.model.transcribe(audio, beam_size=1, **kwargs)
            return "".join(piece.text for piece in found)

        return run

    base = ChunkRules()
    return {
        "sequential-vad": direct(vad_filter=True),
        **{
            f"sequential-vad-{ms}ms-t{threshold}-pad{pad}": direct(
                vad_filter=True,
                vad_parameters={
                    "min_silence_duration_ms": ms,
                    "threshold": threshold,
                    "speech_pad_ms": pad,
                },
            )
            for ms in (300, 500, 1000)
            for threshold in (0.5, 0.35, 0.2)
            for pad in (200, 400, 600)
        },
        "sequential-no-condition": direct(condition_on_previous_text=False),
        "sequential-hallucination-2s": direct(
            word_timestamps=True, hallucination_silence_threshold=2.0
        ),
        "sequential": sequential(base, unheard=True),
        "sequential-no-silence-filter": sequential(replace(base, min_voice_s=0.0), unheard=True),
        "sequential-no-second-pass": sequential(base, unheard=False),
        "stock-batched": stock,
        "silence-cut": with_rules(base),
        "silence-cut-batch2": with_rules(base, 2),
        "silence-cut-batch4": with_rules(base, 4),
        "silence-cut-batch16": with_rules(base, 16),
        "silence-cut-1pass": with_rules(replace(base, max_passes=1)),
        "silence-cut-160ms": with_rules(replace(base, min_silence_ms=160)),
        "silence-cut-600ms": with_rules(replace(base, min_silence_ms=600)),
        "silence-cut-pad400": with_rules(replace(base, speech_pad_ms=400)),
        **{
            f"silence-cut-batch2-loop{seconds}s": with_rules(
                replace(base, loop_stretch_s=seconds), 2
            )
            for seconds in (5, 15, 30)
        },
        "encoder-full-window": with_attribute(
            engine.model, "encoder_tail_frames", None, with_rules(base, 2)
        ),
        **{
            f"encoder-tail{frames}": with_attribute(
                engine.model, "encoder_tail_frames", frames, with_rules(base, 2)
            )
            for frames in ENCODER_TAILS
        },
    }


def run(
    directory: Path,
    chosen: list[str],
    kinds: tuple[str, ...] = ("short", "long"),
    compute_type: str = "int8",
    runs: int = 1,
    encoder_compute_type: str | None = None,
    split: str = "tune",
) -> None:
    """Each strategy `runs` times, run i with random seed i (the temperature fallback samples);
    one row per run, so the spread shows."""
    import ctranslate2

    from tests.helpers import models
    from whisper_async.serving.audio import decode_audio
    from whisper_async.serving.engines import FasterWhisperEngine, cpu_threads

    files = [
        f for f in corpus.tuning_files(directory, split) if f.language == "en" and f.kind in kinds
    ]
    if not files:
        raise SystemExit(
            f"{split} has no English files of the kinds {kinds}: build one with "
            "`python -m bench.corpus --more-long SEED`, or add --languages"
        )
    engine = FasterWhisperEngine(
        models.tiny_en_ctranslate2(), "tiny.en", "cpu", compute_type, cpu_threads({})
    )
    if encoder_compute_type:  # a refused experiment (bench/encoder_precision.py)
        from bench.encoder_precision import encode_at

        encode_at(engine, models.tiny_en_ctranslate2(), encoder_compute_type, cpu_threads({}))
    audio = {f.name: decode_audio(f.path) for f in files}
    table = strategies(engine)
    print(
        "| strategy | seconds | WER | deletions per long file | runs >= 3 per long file | lost phrases |"
    )
    print("|---|---|---|---|---|---|")
    for name, seed in [(n, i) for i in range(runs) for n in chosen]:
        ctranslate2.set_random_seed(seed)
        started = time.perf_counter()
        scored = [scoring.score(f, table[name](audio[f.name], f)) for f in files]
        seconds = time.perf_counter() - started
        longs = [s for s in scored if s.file.kind == "long"]
        lost = [p for s in longs for p in scoring.lost_phrases(s)]
        print(
            f"| {name} (seed {seed}) | {seconds:.0f} | {scoring.rate(scored):.3f} "
            f"| {', '.join(str(s.deletions) for s in longs)} | {', '.join(str(len(s.runs)) for s in longs)} "
            f"| {'; '.join(lost)[:300]} |",
            flush=True,
        )


def language_strategies(engine: Any) -> dict[str, Strategy]:
    """Language left to detection: once per file, or in stretches of speech (30 s chunks or
    shorter units), each run of one language decoded on its own."""
    from whisper_async.attributes import TranscribeOptions

    def decode(
        batch_size: int | None,
        each_chunk: bool,
        seconds: float = 30.0,
        refine_below: float | None = None,
    ) -> Strategy:
        def run(audio: Any, _: Any) -> str:
            engine.detect_each_chunk = each_chunk
            engine.detection_seconds = seconds
            engine.refine_below = refine_below
            found = engine.transcribe(audio, TranscribeOptions(batch_size=batch_size))
            return f"{found.language}\t{found.text}"

        return run

    def window_detection(audio: Any, _: Any) -> str:
        """faster-whisper's own detection in each 30 s window, not conditioned on earlier text."""
        found, info = engine.model.transcribe(
            audio, beam_size=1, multilingual=True, condition_on_previous_text=False
        )
        return f"{info.language}\t{''.join(piece.text for piece in found)}"

    default = decode(None, True, 10.0, 0.9)
    return {
        "sequential": decode(1, False),
        "sequential-each-chunk": decode(1, True),
        "batched": decode(8, False),
        "batched-each-chunk": decode(8, True),
        "sequential-units10": decode(1, True, 10.0),
        "sequential-units15": decode(1, True, 15.0),
        "batched-units10": decode(8, True, 10.0),
        **{
            f"sequential-refine{threshold}": decode(1, True, 10.0, threshold)
            for threshold in (0.5, 0.7, 0.8, 0.9, 0.95)
        },
        "sequential-each-window-nocond": window_detection,
        "default": default,
        "default-two-passes": with_attribute(engine.model, "reuse_detection", False, default),
        "default-stretch-passes": with_attribute(engine, "stretches_from_chunk", False, default),
        "default-sure-chunks-unread": with_attribute(engine, "stray_above", None, default),
        "default-detection-whole-windows": with_attribute(
            engine, "detection_tail_frames", None, default
        ),
        **{
            f"default-detection-tail{frames}": with_attribute(
                engine, "detection_tail_frames", frames, default
            )
            for frames in ENCODER_TAILS
        },
        # the default (batched where it can be, detection in stretches), by the encoder's input
        "default-encoder-full-window": with_attribute(
            engine.model, "encoder_tail_frames", None, default
        ),
        **{
            f"default-encoder-tail{frames}": with_attribute(
                engine.model, "encoder_tail_frames", frames, default
            )
            for frames in ENCODER_TAILS
        },
    }


def run_languages(directory: Path, chosen: list[str], split: str = "tune") -> None:
    """Detection and error rates on the tuning split's non-English clips, and the sections of its
    mixed-language file that each strategy loses, with the multilingual base model (scored as
    bench/languages.py scores the held-out split). Each strategy starts from random seed 0, so
    two strategies differ by what they do, not by what the temperature fallback drew."""
    import ctranslate2

    from bench.languages import NAMES, summarise, unit
    from tests.helpers import models
    from whisper_async.serving.audio import decode_audio
    from whisper_async.serving.engines import FasterWhisperEngine, cpu_threads

    files = [f for f in corpus.tuning_files(directory, split) if f.language != "en"]
    with tempfile.TemporaryDirectory() as workdir:
        model_dir = models.assemble_base(Path(workdir) / "base")
        engine = FasterWhisperEngine(model_dir, "base", "cpu", "int8", cpu_threads({}))
        audio = {f.name: decode_audio(f.path) for f in files}
        table = language_strategies(engine)
        print(
            "| strategy | seconds | detected | error rate per language | mixed file per language | sections lost |"
        )
        print("|---|---|---|---|---|---|")
        errors: dict[str, list[int]] = {}  # per short clip, by strategy
        for name in chosen:
            ctranslate2.set_random_seed(0)
            started = time.perf_counter()
            outputs = [table[name](audio[f.name], f).split("\t", 1) for f in files]
            seconds = time.perf_counter() - started
            result = {
                "languages": [language for language, _ in outputs],
                "texts": [text for _, text in outputs],
                "seconds": [],
            }
            row = summarise(name, files, [result])
            detected = sum(c for c, _ in row.detected.values())
            shorts = sum(t for _, t in row.detected.values())
            rates = ", ".join(f"{NAMES[x]} {unit(x)} {r:.3f}" for x, r in row.rate.items())
            scored = [scoring.score(f, t) for f, t in zip(files, result["texts"], strict=True)]
            pooled = scoring.rate(scored)
            errors[name] = [s.alignment.errors()[0] for s in scored if s.file.kind == "short"]
            mixed = ", ".join(f"{NAMES[x]} {r:.3f}" for x, r in row.mixed_rate.items())
            print(
                f"| {name} | {seconds:.0f} | {detected}/{shorts} | {rates}; all {pooled:.3f} | {mixed} "
                f"| {row.lost_sections} of {row.sections} |",
                flush=True,
            )
    if len(chosen) == 2:
        print(clip_by_clip(*(errors[name] for name in chosen), *chosen))


def clip_by_clip(first: list[int], second: list[int], first_name: str, second_name: str) -> str:
    """How often the second strategy made fewer, more or as many errors on a short clip."""
    pairs = list(zip(first, second, strict=True))
    fewer = sum(b < a for a, b in pairs)
    more = sum(b > a for a, b in pairs)
    return (
        f"Short clips, {second_name} against {first_name}: fewer errors on {fewer}, more on "
        f"{more}, as many on {len(pairs) - fewer - more}; {sum(second)} errors against {sum(first)}."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=corpus.DEFAULT_DIR)
    parser.add_argument(
        "--split",
        default="tune",
        help="tune, or tune-SEED (python -m bench.corpus --more-clips SEED, or --more-long SEED)",
    )
    parser.add_argument("--strategies", default="sequential,stock-batched,silence-cut")
    parser.add_argument("--long-only", action="store_true", help="only the long files")
    parser.add_argument("--compute-type", default="int8", help="CTranslate2's, for English")
    parser.add_argument(
        "--encoder-compute-type",
        help="the encoder's alone (English): CTranslate2's, or torch-float32, torch-bfloat16",
    )
    parser.add_argument("--runs", type=int, default=1, help="seeds per strategy (English)")
    parser.add_argument(
        "--languages",
        action="store_true",
        help="the non-English files with the base model; strategies from language_strategies",
    )
    args = parser.parse_args(argv)
    if args.split == "tune":
        corpus.ensure_built(args.corpus, ("tune",))
    if args.languages:
        run_languages(args.corpus, args.strategies.split(","), args.split)
        return 0
    kinds = ("long",) if args.long_only else ("short", "long")
    run(
        args.corpus,
        args.strategies.split(","),
        kinds,
        args.compute_type,
        args.runs,
        args.encoder_compute_type,
        args.split,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
