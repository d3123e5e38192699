"""Engine speed, accuracy and memory on the same tiny.en weights.

Each configuration runs in its own process, so its peak memory is its own.
    python -m bench.engines [--runs 3] [--paragraphs N | --corpus DIR] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import corpus
from bench.metrics import Spread, peak_rss_mib, reference_text, word_error_rate

CONFIGS = {
    "article": "openai-whisper, model.transcribe(path), defaults (the article's setup)",
    "openai-beam5": "openai-whisper, beam search 5",
    "wasync-default": "wasync's default: faster-whisper, sequential 30 s windows, greedy (`batch_size=1`)",
    "faster-batched": "faster-whisper BatchedInferencePipeline, batch 8, greedy, cues from word timings (`batch_size=8`)",
    "faster-beam5": "faster-whisper, sequential, beam search 5 (`batch_size=1;beam_size=5`)",
}
GPU_CONFIGS = {
    "gpu-float16": ("float16", 1),
    "gpu-int8_float16": ("int8_float16", 1),
    "gpu-float16-batched": ("float16", 16),
    "gpu-int8_float16-batched": ("int8_float16", 16),
}


def _transcriber(
    config: str, model_dir: Path, checkpoint: Path, device: str
) -> Callable[[Path], str]:
    from whisper_async.attributes import TranscribeOptions
    from whisper_async.serving.audio import decode_audio

    if config in {"article", "openai-beam5"}:
        import whisper

        model = whisper.load_model(str(checkpoint), device=device)
        kwargs: dict[str, Any] = {"beam_size": 5} if config == "openai-beam5" else {}
        if device == "cuda":
            kwargs["fp16"] = True

        def run_openai(path: Path) -> str:
            with warnings.catch_warnings():
                warnings.simplefilter(
                    "ignore"
                )  # "FP16 is not supported on CPU", as the article saw
                return str(model.transcribe(str(path), **kwargs)["text"])

        return run_openai
    from whisper_async.serving.engines import FasterWhisperEngine, cpu_threads

    compute, batch = GPU_CONFIGS.get(config, ("int8" if device == "cpu" else "float16", 1))
    engine = FasterWhisperEngine(model_dir, "tiny.en", device, compute, cpu_threads(os.environ))
    options = {
        "wasync-default": TranscribeOptions(),
        "faster-batched": TranscribeOptions(batch_size=8),
        "faster-beam5": TranscribeOptions(batch_size=1, beam_size=5),
    }.get(config, TranscribeOptions(batch_size=batch))

    def run_faster(path: Path) -> str:
        return engine.transcribe(decode_audio(path), options).text

    return run_faster


def child(
    config: str, clips: list[Path], runs: int, model_dir: Path, checkpoint: Path, device: str
) -> dict[str, Any]:
    transcribe = _transcriber(config, model_dir, checkpoint, device)
    transcribe(clips[0])  # warm-up: first-call allocations are not the steady state
    samples, texts_per_run = [], []
    for _ in range(runs):
        started = time.perf_counter()
        texts_per_run.append([transcribe(clip) for clip in clips])
        samples.append(time.perf_counter() - started)
    return {
        "config": config,
        "seconds": samples,
        "texts_per_run": texts_per_run,
        "peak_rss_mib": peak_rss_mib(),
    }


def measure(
    configs: list[str],
    runs: int,
    paragraphs: int | None,
    device: str,
    workdir: Path,
    prebuilt: Path | None = None,
) -> dict[str, Any]:
    from tests.helpers import models

    clips = (
        corpus.existing(prebuilt)
        if prebuilt
        else corpus.build_speech(workdir / "clips", paragraphs)
    )
    audio = sum(corpus.audio_seconds(c) for c in clips)
    model_dir = models.tiny_en_ctranslate2()
    checkpoint = models.tiny_en_openai(workdir / "openai")
    references = [reference_text(c) for c in clips]
    rows = {}
    for config in configs:
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.engines",
                "--child",
                config,
                "--runs",
                str(runs),
                "--device",
                device,
                "--model-dir",
                str(model_dir),
                "--checkpoint",
                str(checkpoint),
                *map(str, clips),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
        timing = Spread.of(result["seconds"])
        rows[config] = {
            "description": CONFIGS.get(config, config),
            "timing": timing,
            "rtf": timing.median / audio,
            # Per run: the temperature fallback of sequential decoding samples at random, so
            # WER can differ between runs of the same configuration.
            "wer_runs": Spread.of(
                [word_error_rate(references, texts) for texts in result["texts_per_run"]]
            ),
            "peak_rss_mib": result["peak_rss_mib"],
        }
    return {"audio_seconds": audio, "clips": [c.name for c in clips], "rows": rows}


def table(result: dict[str, Any], baseline: str) -> str:
    base = result["rows"][baseline]
    lines = [
        f"Audio: {result['audio_seconds'] / 60:.1f} min in {len(result['clips'])} files ({', '.join(result['clips'])}).",
        "",
        "| configuration | RTF (median) | time median [min-max] | speed vs baseline | WER median [min-max] | WER - baseline | peak RSS |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row in result["rows"].items():
        t: Spread = row["timing"]
        w: Spread = row["wer_runs"]
        lines.append(
            f"| `{name}`: {row['description']} | {row['rtf']:.3f} | {t.median:.1f} s [{t.minimum:.1f}-{t.maximum:.1f}] "
            f"| {t.ratio_to(base['timing']):.2f}x | {w.median:.3f} [{w.minimum:.3f}-{w.maximum:.3f}] "
            f"| {w.median - base['wer_runs'].median:+.3f} | {row['peak_rss_mib']:.0f} MiB |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--paragraphs", type=int, help="speak only the first N paragraphs of the long text"
    )
    parser.add_argument("--corpus", type=Path, help="a corpus built by `python -m bench.corpus`")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--model-dir", type=Path)
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("clips", nargs="*", type=Path)
    args = parser.parse_args(argv)
    if args.child:
        print(
            json.dumps(
                child(
                    args.child, args.clips, args.runs, args.model_dir, args.checkpoint, args.device
                )
            )
        )
        return 0
    with tempfile.TemporaryDirectory(prefix="wasync-bench-") as directory:
        configs = args.configs.split(",")
        result = measure(
            configs, args.runs, args.paragraphs, args.device, Path(directory), args.corpus
        )
    print(table(result, configs[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
