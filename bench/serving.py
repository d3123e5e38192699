"""Serving overhead, /ping under load, memory for a huge body, and cold start per engine.

python -m bench.serving [--runs 5] [--body-mib 1024]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx

from bench import corpus
from bench.metrics import Spread, peak_rss_mib, time_runs
from tests.helpers import models
from tests.helpers.processes import serve_process, wait_for_status
from whisper_async.local.runtime import free_port, process_argv


def overhead(model_dir: Path, clip: Path, runs: int) -> dict[str, Any]:
    """/invocations end to end against decode + transcribe called directly, same process setup."""
    # The direct call runs in a fresh process too, so both sides start alike.
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.serving",
            "--direct-child",
            str(model_dir),
            str(clip),
            "--runs",
            str(runs),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    direct = Spread(**json.loads(out.stdout))
    body = clip.read_bytes()
    inside: list[float] = []
    with serve_process(model_dir) as (_, url):
        wait_for_status(f"{url}/ping", 200, timeout=120)
        with httpx.Client(timeout=600) as client:

            def post() -> None:
                response = client.post(f"{url}/invocations", content=body)
                response.raise_for_status()
                inside.append(float(response.json()["timings"]["processing_seconds"]))

            served, _ = time_runs(post, runs, warmup=1)
    in_server = Spread.of(inside[1:])
    return {
        "direct": direct,
        "served": served,
        "in_server": in_server,
        "overhead": served.median / in_server.median - 1,
        "vs_direct_process": served.median / direct.median - 1,
    }


def direct_child(model_dir: Path, clip: Path, runs: int) -> Spread:
    from whisper_async.attributes import TranscribeOptions
    from whisper_async.serving.audio import decode_audio
    from whisper_async.serving.engines import load_engine

    engine = load_engine(model_dir, os.environ)
    timing, _ = time_runs(
        lambda: engine.transcribe(decode_audio(clip), TranscribeOptions()), runs, warmup=1
    )
    return timing


def ping_under_load(model_dir: Path, long_clip: Path) -> dict[str, Any]:
    latencies: list[float] = []
    with serve_process(model_dir) as (_, url):
        wait_for_status(f"{url}/ping", 200, timeout=120)
        done = threading.Event()

        def transcribe() -> None:
            httpx.post(f"{url}/invocations", content=long_clip.read_bytes(), timeout=1800)
            done.set()

        worker = threading.Thread(target=transcribe)
        worker.start()
        time.sleep(1.0)  # past the upload: measure while the engine works
        with httpx.Client(timeout=10) as client:
            while True:  # at least one sample, even when a quick run's job is already done
                started = time.perf_counter()
                client.get(f"{url}/ping")
                latencies.append(time.perf_counter() - started)
                if done.wait(0.02):
                    break
        worker.join()
    latencies.sort()
    return {
        "count": len(latencies),
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "max_ms": 1000 * latencies[-1],
    }


def big_body(model_dir: Path, mib: int) -> dict[str, Any]:
    chunk = b"\0" * (1 << 20)
    with (
        tempfile.TemporaryDirectory() as spool,
        serve_process(
            model_dir, {"WASYNC_TMP_DIR": spool, "WASYNC_MAX_BODY_BYTES": str((mib + 1) << 20)}
        ) as (process, url),
    ):
        wait_for_status(f"{url}/ping", 200, timeout=120)
        before = peak_rss_mib(process.pid)
        started = time.perf_counter()
        response = httpx.post(
            f"{url}/invocations", content=(chunk for _ in range(mib)), timeout=1800
        )
        seconds = time.perf_counter() - started
        after = peak_rss_mib(process.pid)
    return {
        "mib": mib,
        "status": response.status_code,
        "peak_before_mib": before,
        "peak_after_mib": after,
        "growth_mib": after - before,
        "seconds": seconds,
    }


def cold_start(model_dir: Path, runs: int) -> dict[str, Any]:
    """Process start -> socket accepting (imports) -> /ping 200 (model load)."""
    accept, ready = [], []
    for _ in range(runs):
        port = free_port()
        started = time.perf_counter()
        process = subprocess.Popen(
            process_argv(port),
            env={**os.environ, "WASYNC_MODEL_DIR": str(model_dir)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.05).close()
                    break
                except OSError:
                    time.sleep(0.002)
            accept.append(time.perf_counter() - started)
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/ping", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.01)
            ready.append(time.perf_counter() - started)
        finally:
            process.terminate()
            process.wait()

    return {
        "accept": Spread.of(accept),
        "ready": Spread.of(ready),
        "load": Spread.of([r - a for r, a in zip(ready, accept, strict=True)]),
    }


def measure(runs: int, body_mib: int, long_repeats: int, workdir: Path) -> dict[str, Any]:
    clips = corpus.build(workdir / "clips", long_repeats)
    faster_dir = models.tiny_en_ctranslate2()
    openai_dir = models.tiny_en_openai(workdir / "openai").parent
    return {
        "overhead": overhead(faster_dir, workdir / "clips" / "en_30s.wav", runs),
        "ping": ping_under_load(faster_dir, clips[-1]),
        "body": big_body(faster_dir, body_mib),
        "cold_faster": cold_start(faster_dir, runs),
        "cold_openai": cold_start(openai_dir, max(1, runs // 2)),
    }


def report(result: dict[str, Any]) -> str:
    o, p, b = result["overhead"], result["ping"], result["body"]
    lines = [
        "| measure | figure | goal |",
        "|---|---|---|",
        f"| `/invocations` on en_30s.wav, HTTP wall time vs the engine call (decode + transcribe) timed inside the same requests "
        f"| {o['served'].median:.3f} s vs {o['in_server'].median:.3f} s (median of {o['served'].runs}; wall "
        f"[{o['served'].minimum:.3f}-{o['served'].maximum:.3f}]): overhead {100 * o['overhead']:+.1f}% | < 5% |",
        f"| the same, vs a direct engine call in a separate fresh process | {o['served'].median:.2f} s vs {o['direct'].median:.2f} s "
        f"[{o['direct'].minimum:.2f}-{o['direct'].maximum:.2f}]: {100 * o['vs_direct_process']:+.1f}% | < 5% |",
        f"| `/ping` while a {p['count']}-ping long transcription runs | p50 {p['p50_ms']:.1f} ms, p99 {p['p99_ms']:.1f} ms, max {p['max_ms']:.1f} ms | p99 < 50 ms |",
        f"| server peak RSS while a {b['mib']} MiB body streams in | {b['peak_before_mib']:.0f} → {b['peak_after_mib']:.0f} MiB: growth {b['growth_mib']:.1f} MiB "
        f"({b['seconds']:.1f} s, answer {b['status']}) | < 64 MiB |",
    ]
    for engine in ("faster", "openai"):
        c = result[f"cold_{engine}"]
        lines.append(
            f"| cold start, {engine} engine (tiny.en) | socket open {1000 * c['accept'].median:.0f} ms "
            f"[{1000 * c['accept'].minimum:.0f}-{1000 * c['accept'].maximum:.0f}] (imports); model load {c['load'].median:.2f} s; "
            f"first `/ping` 200 at {c['ready'].median:.2f} s (median of {c['ready'].runs}) | socket within 250 ms |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--body-mib", type=int, default=1024)
    parser.add_argument("--long-repeats", type=int, default=20)
    parser.add_argument("--direct-child", nargs=2, type=Path)
    args = parser.parse_args(argv)
    if args.direct_child:
        print(json.dumps(asdict(direct_child(*args.direct_child, args.runs))))
        return 0
    with tempfile.TemporaryDirectory(prefix="wasync-bench-") as directory:
        result = measure(args.runs, args.body_mib, args.long_repeats, Path(directory))
    print(report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
