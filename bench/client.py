"""The client through the local stack: one batch command vs a shell loop vs a plain boto3 script.

python -m bench.client [--clips 50] [--runs 1]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from bench.corpus import DATA
from bench.metrics import Spread

BUCKET = "sagemaker-us-east-1-123456789012"


def make_clips(target: Path, count: int) -> list[Path]:
    target.mkdir(parents=True, exist_ok=True)
    sources = ["en_short.wav", "en_numbers.wav"]
    clips = []
    for index in range(count):
        clip = target / f"clip{index:03d}.wav"
        shutil.copy(DATA / sources[index % 2], clip)
        clips.append(clip)
    return clips


def wasync(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "whisper_async", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def batch(env: dict[str, str], clips: list[Path], out: Path) -> tuple[float, int]:
    started = time.perf_counter()
    result = wasync(
        env,
        "transcribe",
        *map(str, clips),
        "--wait",
        "-o",
        str(out),
        "--overwrite",
        "--concurrency",
        "8",
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(result.stderr)
    requests = int(re.search(r"(\d+) S3 requests", result.stderr).group(1))  # type: ignore[union-attr]
    return seconds, requests


def shell_loop(env: dict[str, str], clips: list[Path], out: Path) -> float:
    started = time.perf_counter()
    for clip in clips:
        result = wasync(env, "transcribe", str(clip), "--wait", "-o", str(out), "--overwrite")
        if result.returncode != 0:
            raise RuntimeError(result.stderr)
    return time.perf_counter() - started


BOTO3_SCRIPT = """
import sys, time, boto3
s3 = boto3.client("s3"); runtime = boto3.client("sagemaker-runtime")
bucket = sys.argv[1]
for path in sys.argv[2:]:
    key = "plain/" + path.rsplit("/", 1)[-1]
    s3.upload_file(path, bucket, key)
    response = runtime.invoke_endpoint_async(EndpointName="whisper", InputLocation=f"s3://{bucket}/{key}", ContentType="audio/wav")
    out_key = response["OutputLocation"].split("/", 3)[3]
    while True:
        try:
            s3.head_object(Bucket=bucket, Key=out_key)
            break
        except s3.exceptions.ClientError:
            time.sleep(1)
    s3.get_object(Bucket=bucket, Key=out_key)["Body"].read()
"""


def plain_boto3(env: dict[str, str], clips: list[Path], workdir: Path) -> float:
    script = workdir / "plain.py"
    script.write_text(BOTO3_SCRIPT)
    started = time.perf_counter()
    subprocess.run([sys.executable, str(script), BUCKET, *map(str, clips)], env=env, check=True)
    return time.perf_counter() - started


def _watch(env: dict[str, str], uri: Any, landed: list[float]) -> None:
    """HEAD every 10 ms: the moment the result lands, to within that."""
    from whisper_async.clients import Clients
    from whisper_async.settings import resolve
    from whisper_async.storage import head

    watcher = Clients(resolve({}, env))
    while head(watcher, uri) is None:
        time.sleep(0.01)
    landed.append(time.monotonic())


def notice_latency(env: dict[str, str], clip: Path, samples: int) -> list[float]:
    """Seconds from the result landing in S3 to JobRunner.wait returning."""
    from whisper_async.clients import Clients
    from whisper_async.inputs import expand
    from whisper_async.jobs import JobRunner
    from whisper_async.settings import resolve
    from whisper_async.storage import S3Uri

    clients = Clients(resolve({}, env))
    runner = JobRunner(clients)
    delays = []
    for _ in range(samples):
        record = runner.submit(expand([str(clip)])[0], {}, "txt")
        landed: list[float] = []
        uri = S3Uri.parse(record.output_location)
        thread = threading.Thread(target=_watch, args=(env, uri, landed))
        thread.start()
        assert runner.wait(record, 300) is not None
        noticed = time.monotonic()
        thread.join()
        delays.append(max(0.0, noticed - landed[0]))
    return delays


def measure(count: int, runs: int, workdir: Path) -> dict[str, Any]:
    from tests.helpers.models import tiny_en_ctranslate2
    from whisper_async.local import stack

    info = stack.up(workdir / "stack")
    try:
        env = {
            **os.environ,
            **dict(
                line.removeprefix("export ").split("=", 1)
                for line in stack.environment(info.state_dir)
            ),
        }
        for args in (
            ("push-model", str(tiny_en_ctranslate2())),
            ("deploy", "--instance", "ml.g5.xlarge", "--max-concurrency", "2"),
        ):
            result = wasync(env, *args)
            if result.returncode != 0:
                raise RuntimeError(result.stderr)
        clips = make_clips(workdir / "clips", count)
        wasync(env, "transcribe", str(clips[0]), "--wait")  # warm the container
        batches, requests = [], []
        for _ in range(runs):
            seconds, used = batch(env, clips, workdir / f"out-{uuid.uuid4().hex[:6]}")
            batches.append(seconds)
            requests.append(used / count)
        loops = [shell_loop(env, clips, workdir / "loop") for _ in range(runs)]
        plains = [plain_boto3(env, clips, workdir) for _ in range(runs)]
        latency = notice_latency(env, clips[0], 5)
    finally:
        stack.down(info.state_dir, grace=5)
    return {
        "count": count,
        "batch": Spread.of(batches),
        "loop": Spread.of(loops),
        "plain": Spread.of(plains),
        "requests_per_job": statistics.median(requests),
        "latency": Spread.of(latency),
    }


def report(result: dict[str, Any]) -> str:
    b, loop, plain, lat = result["batch"], result["loop"], result["plain"], result["latency"]
    return "\n".join(
        [
            f"{result['count']} short clips (3.4-3.5 s each) through the local stack, endpoint concurrency 2, median of {b.runs}:",
            "",
            "| approach | time median [min-max] | batch speed-up vs it |",
            "|---|---|---|",
            f"| `wasync transcribe *.wav --wait` (one command) | {b.median:.1f} s [{b.minimum:.1f}-{b.maximum:.1f}] | 1.00x |",
            f"| shell loop, one `wasync transcribe f --wait` per file | {loop.median:.1f} s [{loop.minimum:.1f}-{loop.maximum:.1f}] | {loop.median / b.median:.2f}x |",
            f"| plain boto3 script: upload, invoke, poll each in turn | {plain.median:.1f} s [{plain.minimum:.1f}-{plain.maximum:.1f}] | {plain.median / b.median:.2f}x |",
            "",
            f"S3 requests per job in the batch: {result['requests_per_job']:.1f} (job record PUT, HEAD polls, result GET; inline bodies need no upload).",
            f"Time from a result landing in S3 to the client noticing it: median {lat.median:.2f} s [{lat.minimum:.2f}-{lat.maximum:.2f}] over {lat.runs} jobs.",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clips", type=int, default=50)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="wasync-bench-") as directory:
        result = measure(args.clips, args.runs, Path(directory))
    print(report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
