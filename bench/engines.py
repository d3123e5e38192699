"""Engine speed, accuracy and boundary loss on the held-out split of the evaluation corpus.

    python -m bench.engines [--runs 3] [--corpus DIR] [--quick] [--device cpu] [--configs a,b]

All English rows use the same Whisper tiny.en weights. Every (run, configuration) pair is a fresh
process, and the runs are interleaved (run 1 of every configuration, then run 2, ...), so a load
spike on a shared machine falls on every row alike rather than on one. The article's setup
samples at random when it falls back to higher temperatures: run i seeds torch (and
CTranslate2, for the faster rows) with i, and each figure is the median over the runs with its
[min-max] spread.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bench import corpus, scoring
from bench.metrics import Spread, peak_rss_mib
from whisper_async.serving.bfloat16_encoder import TORCH_BFLOAT16, setting_value

ARTICLE = "article"
DEFAULT = "wasync-default"
# the default with the opt-in encoder, torch's bfloat16 (WASYNC_CPU_ENCODER; docs/serving.md)
BF16_ENCODER = "faster-bf16-encoder"
# Any configuration + this: without the server's gc.freeze after loading (docs/serving.md)
UNFROZEN = "-unfrozen"
SPLIT_HELP = (
    "heldout (the report's), or a tuning split to compare on before a choice: tune, tune-SEED"
)


def describe(config: str, descriptions: dict[str, str] | None = None) -> str:
    """A configuration's description for the report (from `descriptions`, this module's
    CONFIGS by default), `-unfrozen` ones included."""
    chosen = config.removesuffix(UNFROZEN)
    described = {**OPTIONS, **(CONFIGS if descriptions is None else descriptions)}.get(
        chosen, chosen
    )
    return described if chosen == config else f"{described}, without the freeze after loading"


CONFIGS = {
    ARTICLE: "openai-whisper, `model.transcribe(path)`, defaults (the article's setup)",
    DEFAULT: "wasync's default: faster-whisper's batched path (`batch_size` 2 on CPU, 8 on GPU): chunks cut in silence, greedy, cues from word timings",
    "faster-sequential": "faster-whisper, sequential 30 s windows, greedy (`batch_size=1`; wasync's default until 2026-11-30)",
    "stock-batched": "faster-whisper's own batched pipeline, batch 8: VAD regions glued into 30 s chunks (wasync's batched path before issue 18)",
}
# run when named (--configs), described in every report
OPTIONS = {
    BF16_ENCODER: "the default with `WASYNC_CPU_ENCODER=torch-bfloat16`: torch's bfloat16 encoder, CTranslate2's decoder (an option, not the default)",
    "faster-no-faint": "the default without decoding faint voice that no region holds (the default until 2026-12-05)",
    "gpu-float16": "faster-whisper on CUDA, float16, sequential 30 s windows (`batch_size=1`)",
    "gpu-int8_float16": "faster-whisper on CUDA, int8_float16, sequential 30 s windows",
    "gpu-float16-batched": "faster-whisper on CUDA, float16, wasync's batched path with `batch_size` 16",
    "gpu-int8_float16-batched": "faster-whisper on CUDA, int8_float16, wasync's batched path with `batch_size` 16",
}
GPU_CONFIGS = {
    "gpu-float16": ("float16", 1),
    "gpu-int8_float16": ("int8_float16", 1),
    "gpu-float16-batched": ("float16", 16),
    "gpu-int8_float16-batched": ("int8_float16", 16),
}


def _seed(seed: int) -> None:
    """The same random draws for every configuration's run `seed` (temperature fallback), in
    torch or CTranslate2, whichever the configuration loaded: neither is imported here, so a
    process holds only what its server's would."""
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)
    ctranslate2 = sys.modules.get("ctranslate2")
    if ctranslate2 is not None:
        ctranslate2.set_random_seed(seed)


def _transcriber(
    config: str, model_dir: Path, checkpoint: Path, device: str, model_name: str
) -> Callable[[Path], tuple[str, str]]:
    """A function from an audio path to (text, language) for one configuration."""
    from whisper_async.attributes import TranscribeOptions
    from whisper_async.serving.audio import decode_audio

    if config in {ARTICLE, "openai-beam5"}:
        import whisper

        model = whisper.load_model(str(checkpoint), device=device)
        kwargs: dict[str, Any] = {"beam_size": 5} if config == "openai-beam5" else {}
        if device == "cuda":
            kwargs["fp16"] = True

        def run_openai(path: Path) -> tuple[str, str]:
            with warnings.catch_warnings():
                warnings.simplefilter(
                    "ignore"
                )  # "FP16 is not supported on CPU", as the article saw
                result = model.transcribe(str(path), **kwargs)
            return str(result["text"]), str(result["language"])

        return run_openai
    if config in {"wasync-openai", "wasync-openai-beam5"}:
        from whisper_async.serving.engines import OpenAIWhisperEngine

        openai_engine = OpenAIWhisperEngine(checkpoint, model_name, device, fp16=device == "cuda")
        beam = TranscribeOptions(beam_size=5 if config.endswith("beam5") else 1)

        def run_wasync_openai(path: Path) -> tuple[str, str]:
            found = openai_engine.transcribe(decode_audio(path), beam)
            return found.text, found.language

        return run_wasync_openai
    from whisper_async.serving.engines import FasterWhisperEngine, cpu_threads

    compute, batch = GPU_CONFIGS.get(config, ("int8" if device == "cpu" else "float16", 1))
    # the server's encoder (WASYNC_CPU_ENCODER: CTranslate2's unless set), or the opt-in one
    cpu_encoder = TORCH_BFLOAT16 if config == BF16_ENCODER else setting_value(os.environ)
    engine = FasterWhisperEngine(
        model_dir, model_name, device, compute, cpu_threads(os.environ), cpu_encoder
    )
    if config == "faster-float32-encoder":  # tried and refused (docs/serving.md); not in CONFIGS
        from bench.encoder_precision import encode_at

        encode_at(engine, model_dir, "float32", cpu_threads(os.environ))
    if config == "faster-trimmed-encoder":  # tried and refused (docs/serving.md); not in CONFIGS
        from whisper_async.serving.encoder_input import TRIED_TAIL_FRAMES

        engine.model.encoder_tail_frames = TRIED_TAIL_FRAMES
    if config == "faster-detection-whole-windows":  # the default before 2026-12-01
        engine.detection_tail_frames = None
    if config == "faster-two-passes":  # the default before 2026-12-01: detection's pass not reused
        engine.model.reuse_detection = False
    # the default until bbf35b7 (2026-12-01): an encoder pass per detected stretch
    if config == "faster-stretch-passes":
        engine.stretches_from_chunk = False
    # the default until 2026-12-01 (session 32): a chunk detected surely is not read for inserts
    if config == "faster-sure-chunks-unread":
        engine.stray_above = None
    if config == "faster-no-faint":  # the default until 2026-12-05: faint voice not decoded
        engine.chunking = replace(engine.chunking, decode_faint=False)
    if config == "stock-batched":

        def run_stock(path: Path) -> tuple[str, str]:
            found, info = engine.batched.transcribe(
                decode_audio(path), batch_size=8, vad_filter=True, beam_size=1
            )
            return "".join(piece.text for piece in found), str(info.language)

        return run_stock
    if config == "faster-vad-500ms":  # tried and refused (docs/serving.md); not in CONFIGS

        def run_vad(path: Path) -> tuple[str, str]:
            found, info = engine.model.transcribe(
                decode_audio(path),
                beam_size=1,
                vad_filter=True,
                vad_parameters={"min_silence_duration_ms": 500},
            )
            return "".join(piece.text for piece in found), str(info.language)

        return run_vad
    options = {
        DEFAULT: TranscribeOptions(),
        "faster-float32-encoder": TranscribeOptions(),
        BF16_ENCODER: TranscribeOptions(),
        "faster-trimmed-encoder": TranscribeOptions(),
        "faster-detection-whole-windows": TranscribeOptions(),
        "faster-two-passes": TranscribeOptions(),
        "faster-stretch-passes": TranscribeOptions(),
        "faster-sure-chunks-unread": TranscribeOptions(),
        "faster-no-faint": TranscribeOptions(),
        "faster-sequential": TranscribeOptions(batch_size=1),
        "faster-batched": TranscribeOptions(batch_size=8),
        "faster-beam5": TranscribeOptions(batch_size=1, beam_size=5),
    }.get(config, TranscribeOptions(batch_size=batch))

    def run_faster(path: Path) -> tuple[str, str]:
        found = engine.transcribe(decode_audio(path), options)
        return found.text, found.language

    return run_faster


def child(config: str, seed: int, paths: list[Path], args: argparse.Namespace) -> dict[str, Any]:
    from whisper_async.serving.memory import freeze_loaded_objects

    chosen = config.removesuffix(UNFROZEN)
    transcribe = _transcriber(chosen, args.model_dir, args.checkpoint, args.device, args.model_name)
    if chosen == config:
        freeze_loaded_objects()  # as the server does once its model has loaded, before a request
    transcribe(paths[0])  # warm-up: first-call allocations are not the steady state
    _seed(seed)
    texts, languages, seconds = [], [], []
    for path in paths:
        started = time.perf_counter()
        text, language = transcribe(path)
        seconds.append(time.perf_counter() - started)
        texts.append(text)
        languages.append(language)
    return {
        "texts": texts,
        "languages": languages,
        "seconds": seconds,
        "peak_rss_mib": peak_rss_mib(),
    }


def run_interleaved(
    configs: list[str],
    runs: int,
    files: list[corpus.CorpusFile],
    device: str,
    model_dir: Path,
    checkpoint: Path,
    model_name: str,
    once: frozenset[str] = frozenset(),
) -> dict[str, list[dict[str, Any]]]:
    """{config: [one child's result per run]}, run i of every config before run i+1 of any;
    the configurations in `once` run only the first time."""
    results: dict[str, list[dict[str, Any]]] = {config: [] for config in configs}
    for seed in range(runs):
        for config in configs:
            if seed and config in once:
                continue
            command = [
                sys.executable, "-m", "bench.engines", "--child", config, "--seed", str(seed),
                "--device", device, "--model-dir", str(model_dir), "--checkpoint", str(checkpoint),
                "--model-name", model_name, *[str(f.path) for f in files],
            ]  # fmt: skip
            out = subprocess.run(command, capture_output=True, text=True)
            if out.returncode:
                raise RuntimeError(f"{config} run {seed} failed:\n{out.stderr[-3000:]}")
            results[config].append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(f"  {model_name} {config} run {seed + 1}/{runs}: {sum(results[config][-1]['seconds']):.1f} s",
                  file=sys.stderr, flush=True)  # fmt: skip
    return results


@dataclass
class Row:
    """One configuration's figures over its runs."""

    name: str
    description: str
    timing: Spread
    short_timing: Spread  # the short clips alone
    wer: Spread
    wer_by_synthesizer: dict[str, float]
    deletions: dict[str, Spread]  # per long file
    runs_of_three: dict[str, Spread]  # per long file
    scored: list[list[scoring.Scored]]  # per run, per file
    peak_rss_mib: float
    lost: list[str] = field(default_factory=list)  # phrases of the median run


def summarise(name: str, files: list[corpus.CorpusFile], results: list[dict[str, Any]]) -> Row:
    scored = [
        [scoring.score(f, t) for f, t in zip(files, r["texts"], strict=True)] for r in results
    ]
    longs = [i for i, f in enumerate(files) if f.kind == "long"]
    shorts = [i for i, f in enumerate(files) if f.kind == "short"]
    synthesizers = sorted({s for f in files for s in f.synthesizers})
    wers = [scoring.rate(run) for run in scored]
    median_run = sorted(range(len(scored)), key=lambda i: wers[i])[len(scored) // 2]
    return Row(
        name=name,
        description=describe(name),
        timing=Spread.of([sum(r["seconds"]) for r in results]),
        short_timing=Spread.of([sum(r["seconds"][i] for i in shorts) for r in results]),
        wer=Spread.of(wers),
        wer_by_synthesizer={
            s: statistics.median(scoring.rate(run, scoring.by_synthesizer(s)) for run in scored)
            for s in synthesizers
        },
        deletions={files[i].name: Spread.of([run[i].deletions for run in scored]) for i in longs},
        runs_of_three={
            files[i].name: Spread.of([len(run[i].runs) for run in scored]) for i in longs
        },
        scored=scored,
        peak_rss_mib=max(r["peak_rss_mib"] for r in results),
        lost=[p for i in longs for p in scoring.lost_phrases(scored[median_run][i])],
    )


def unshared_runs(row: Row, baseline: Row) -> list[str]:
    """Runs of >= 3 deleted words in any run of `row` that no seed of the baseline also has."""
    found: list[str] = []
    for run in row.scored:
        for index, item in enumerate(run):
            if item.file.kind != "long":
                continue
            others = [base_run[index].alignment for base_run in baseline.scored]
            reference, _ = scoring.reference_tokens(item.file)
            for span in item.runs:
                phrase = f'{item.file.name}: "{" ".join(reference[span[0] : span[1]])}"'
                if not scoring.shared_run(span, others) and phrase not in found:
                    found.append(phrase)
    return found


@dataclass
class Result:
    files: list[corpus.CorpusFile]
    rows: dict[str, Row]
    split: str = "heldout"

    @property
    def audio_seconds(self) -> float:
        return sum(f.duration for f in self.files)


def english_files(directory: Path, split: str = "heldout") -> list[corpus.CorpusFile]:
    return [f for f in corpus.split_files(directory, split) if f.language == "en"]


def measure(
    configs: list[str],
    runs: int,
    directory: Path,
    device: str,
    workdir: Path,
    once: frozenset[str] = frozenset(),
    split: str = "heldout",
) -> Result:
    from tests.helpers import models

    files = english_files(directory, split)
    model_dir = models.tiny_en_ctranslate2()
    checkpoint = models.tiny_en_openai(workdir / "openai")
    results = run_interleaved(configs, runs, files, device, model_dir, checkpoint, "tiny.en", once)
    return Result(files, {c: summarise(c, files, results[c]) for c in configs}, split)


def _spread(s: Spread, digits: int = 3) -> str:
    if s.minimum == s.maximum:
        return f"{s.median:.{digits}f}"
    return f"{s.median:.{digits}f} [{s.minimum:.{digits}f}-{s.maximum:.{digits}f}]"


def _count(s: Spread) -> str:
    return (
        f"{s.median:g}" if s.minimum == s.maximum else f"{s.median:g} [{s.minimum:g}-{s.maximum:g}]"
    )


def table(result: Result, baseline: str = ARTICLE) -> str:
    base = result.rows[baseline]
    files = result.files
    synthesizers = sorted(base.wer_by_synthesizer)
    longs = [f for f in files if f.kind == "long"]
    shorts = [f for f in files if f.kind == "short"]
    lines = [
        f"{corpus.split_title(result.split)}, English: {result.audio_seconds / 60:.1f} min in {len(files)} files: "
        f"{len(shorts)} short clips ({sum(f.duration for f in shorts):.0f} s) and "
        + ", ".join(f"{f.name} ({f.duration / 60:.1f} min)" for f in longs)
        + f"; synthesizers {', '.join(synthesizers)}.",
        "",
        "| configuration | RTF | time median [min-max] | speed vs baseline | short clips: speed vs baseline | WER median [min-max] | WER - baseline | peak RSS |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, row in result.rows.items():
        t = row.timing
        lines.append(
            f"| `{name}`: {row.description} | {t.median / result.audio_seconds:.3f} "
            f"| {t.median:.1f} s [{t.minimum:.1f}-{t.maximum:.1f}] | {t.ratio_to(base.timing):.2f}x "
            f"| {row.short_timing.ratio_to(base.short_timing):.2f}x | {_spread(row.wer)} "
            f"| {row.wer.median - base.wer.median:+.3f} | {row.peak_rss_mib:.0f} MiB |"
        )
    lines += [
        "",
        "WER per synthesizer (median over runs; long files count towards the synthesizer of each sentence):",
        "",
        "| configuration | " + " | ".join(synthesizers) + " |",
        "|---|" + "---|" * len(synthesizers),
    ]
    for name, row in result.rows.items():
        cells = [
            f"{row.wer_by_synthesizer[s]:.3f} ({row.wer_by_synthesizer[s] - base.wer_by_synthesizer[s]:+.3f})"
            for s in synthesizers
        ]
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Boundary loss on the long files: deleted words, and runs of 3 or more consecutive deleted "
        "words, against the reference (median [min-max] over runs):",
        "",
        "| configuration | "
        + " | ".join(f"{f.name}: deleted | runs >= 3" for f in longs)
        + " | runs the baseline does not share |",
        "|---|" + "---|---|" * len(longs) + "---|",
    ]
    for name, row in result.rows.items():
        cells = [
            f"{_count(row.deletions[f.name])} | {_count(row.runs_of_three[f.name])}" for f in longs
        ]
        unshared = "" if name == baseline else str(len(unshared_runs(row, base)))
        lines.append(f"| `{name}` | " + " | ".join(cells) + f" | {unshared} |")
    for name, row in result.rows.items():
        if name != baseline and (missing := unshared_runs(row, base)):
            lines.append("")
            lines.append(
                f"Lost by `{name}` and by no run of the baseline: "
                + "; ".join(missing[:8])
                + ("; ..." if len(missing) > 8 else "")
                + "."
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--corpus", type=Path, default=corpus.DEFAULT_DIR)
    parser.add_argument("--quick", action="store_true", help="a tiny corpus (the smoke test)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--split", default="heldout", help=SPLIT_HELP)
    parser.add_argument("--once", default="", help="configurations that run only the first time")
    parser.add_argument("--model-dir", type=Path)
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--model-name", default="tiny.en")
    parser.add_argument("paths", nargs="*", type=Path)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.seed, args.paths, args)))
        return 0
    directory = corpus.prepare(args.corpus, args.quick, args.split)
    configs = args.configs.split(",")
    with tempfile.TemporaryDirectory(prefix="wasync-bench-") as workdir:
        once = frozenset(filter(None, args.once.split(",")))
        result = measure(
            configs, args.runs, directory, args.device, Path(workdir), once, args.split
        )
    print(table(result, configs[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
