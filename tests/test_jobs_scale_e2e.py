"""Batches of hundreds of jobs through the local stack with the stand-in engine: resume after
kill -9, two runs of one batch at once, Ctrl-C at each stage. Every test has its own endpoint
and S3 prefix, and waits for states (files written, objects listed), never for a time.

Invocations are counted where they arrive: the stand-in engine logs one line per request into
the endpoint's container log.
"""

from __future__ import annotations

import collections
import os
import random
import resource
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bench.standin import invocations, missing_or_wrong, upload_model, write_clips
from whisper_async.clients import Clients
from whisper_async.settings import resolve

pytestmark = pytest.mark.slow
BUCKET = "sagemaker-us-east-1-123456789012"


def wait_until(condition: Callable[[], bool], what: str, limit: float = 600) -> None:
    """Wait for a state; fail (not hang) if it never comes."""
    event, waited = threading.Event(), 0.0
    while not condition():
        assert waited < limit, f"never reached: {what}"
        event.wait(0.05)
        waited += 0.05


@dataclass
class StandIn:
    stack: object
    name: str
    prefix: str
    env: dict[str, str]
    state_dir: Path

    def command(self, *args: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "whisper_async",
            "-e",
            self.name,
            "--prefix",
            self.prefix,
            "transcribe",
            *args,
        ]

    def start(self, *args: str, limit_file_size: int | None = None) -> subprocess.Popen[str]:
        """The CLI as a user's shell runs it; `limit_file_size` makes every bigger file write
        fail as on a full disk (RLIMIT_FSIZE: EFBIG instead of ENOSPC, the same code path)."""

        def limit() -> None:
            if limit_file_size is not None:
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
                resource.setrlimit(resource.RLIMIT_FSIZE, (limit_file_size, limit_file_size))

        return subprocess.Popen(
            self.command(*args),
            env={**os.environ, **self.env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=limit,  # only resource limits, set before exec
        )

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args),
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=900,
        )

    def invocations(self) -> collections.Counter[int]:
        """How often each level reached the endpoint's containers."""
        return invocations(self.state_dir, self.name)

    def objects(self, part: str) -> int:
        s3 = Clients(resolve({}, self.env)).client("s3")
        pages = s3.get_paginator("list_objects_v2").paginate(
            Bucket=BUCKET, Prefix=f"{self.prefix}{part}"
        )
        return sum(len(page.get("Contents", [])) for page in pages)


@pytest.fixture
def standin(local_stack, request) -> Iterator[Callable[..., StandIn]]:  # type: ignore[no-untyped-def]
    made: list[str] = []

    def make(seconds: float = 0.0, concurrency: int = 4) -> StandIn:
        name = f"sa{len(made)}-{abs(hash(request.node.name)) % 10**6:06d}"
        s3 = Clients(resolve({}, local_stack.env)).client("s3")
        uri = upload_model(s3, BUCKET, seconds)
        deployed = local_stack.cli(
            "-e", name, "deploy", "--instance", "ml.g5.xlarge", "--model", uri,
            "--max-concurrency", str(concurrency),
        )  # fmt: skip
        assert deployed.exit_code == 0, deployed.output
        made.append(name)
        return StandIn(local_stack, name, f"{name}/", local_stack.env, local_stack.state_dir)

    yield make
    for name in made:
        local_stack.cli("-e", name, "delete", "--yes")


def assert_complete(out: Path, count: int, endpoint: StandIn) -> None:
    wrong = list(missing_or_wrong(out, range(1, count + 1)))
    assert not wrong, wrong[:5]
    invoked = endpoint.invocations()
    assert set(invoked) == set(range(1, count + 1))
    twice = {level: n for level, n in invoked.items() if n > 1}
    assert not twice, f"invoked more than once: {twice}"


def test_kill_9_then_the_same_command_again_finishes_every_job_once(standin, tmp_path) -> None:
    endpoint = standin()
    clips, out = tmp_path / "clips", tmp_path / "out"
    write_clips(clips, 300)
    point = random.Random().randint(20, 250)
    process = endpoint.start(str(clips), "--wait", "-o", str(out))
    wait_until(
        lambda: len(list(out.glob("*.txt"))) >= point or process.poll() is not None, "results"
    )
    process.kill()  # kill -9: no clean-up at all
    process.wait()
    again = endpoint.run(str(clips), "--wait", "-o", str(out))
    assert again.returncode == 0, f"killed after {point} results: {again.stderr[-2000:]}"
    assert_complete(out, 300, endpoint)


def test_two_runs_of_one_batch_at_once_each_invoke_nothing_twice(standin, tmp_path) -> None:
    endpoint = standin()
    clips, out = tmp_path / "clips", tmp_path / "out"
    write_clips(clips, 250)
    runs = [endpoint.start(str(clips), "--wait", "-o", str(out)) for _ in range(2)]
    results = [run.communicate(timeout=900) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [err[-2000:] for _, err in results]
    assert_complete(out, 250, endpoint)


@pytest.mark.parametrize("stage", ["upload", "invoke", "wait"])
def test_ctrl_c_at_each_stage_exits_130_and_a_rerun_finishes_every_job_once(
    standin, tmp_path, stage
) -> None:
    count = 40 if stage == "wait" else 300
    # Waiting: each job takes a while and one runs at a time, so jobs are still queued.
    endpoint = standin(seconds=0.5, concurrency=1) if stage == "wait" else standin()
    clips, out = tmp_path / "clips", tmp_path / "out"
    write_clips(clips, count)
    args = [str(clips), "--wait", "-o", str(out)] + (["--no-inline"] if stage == "upload" else [])
    process = endpoint.start(*args)
    if stage == "upload":
        wait_until(lambda: endpoint.objects("inputs/") >= 10, "uploads under way")
    elif stage == "invoke":
        wait_until(lambda: endpoint.objects("jobs/") >= 10, "invocations under way")
    else:
        wait_until(lambda: endpoint.objects("jobs/") >= count, "every job sent")
    assert process.poll() is None, "the batch ended before Ctrl-C"
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-2000:]
    assert "Re-run the same command" in stderr or "re-run the same command" in stderr
    again = endpoint.run(*args)
    assert again.returncode == 0, again.stderr[-2000:]
    assert_complete(out, count, endpoint)


def test_a_disk_that_fills_up_fails_those_rows_with_their_ids_and_a_rerun_writes_them(
    standin, tmp_path
) -> None:
    endpoint = standin()
    clips, out = tmp_path / "clips", tmp_path / "out"
    write_clips(clips, 3)
    full = endpoint.start(str(clips), "--wait", "-o", str(out), limit_file_size=20)
    _, stderr = full.communicate(timeout=600)
    assert full.returncode == 1, stderr[-2000:]
    failed = [line for line in stderr.splitlines() if line.startswith("failed:")]
    assert len(failed) == 3, stderr[-2000:]
    # Each row names the problem and the job to fetch later; the counts still come.
    assert all("File too large" in line and "wasync fetch " in line for line in failed)
    assert "0 done, 3 failed, 0 pending" in stderr
    assert not list(out.glob("*"))  # nothing half-written
    again = endpoint.run(str(clips), "--wait", "-o", str(out))
    assert again.returncode == 0, again.stderr[-2000:]
    assert_complete(out, 3, endpoint)


def test_throttling_from_the_endpoint_slows_the_batch_and_fails_no_job(standin, tmp_path) -> None:
    endpoint = standin()
    emulator = endpoint.env["AWS_ENDPOINT_URL_SAGEMAKER"]
    switched = httpx.put(
        f"{emulator}/_wasync/endpoints/{endpoint.name}/throttle", json={"fraction": 0.1}, timeout=30
    )
    assert switched.status_code == 200, switched.text
    clips, out = tmp_path / "clips", tmp_path / "out"
    write_clips(clips, 200)
    result = endpoint.run(str(clips), "--wait", "-o", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    assert_complete(out, 200, endpoint)
    status = httpx.get(f"{emulator}/_wasync/status", timeout=30).json()
    counts = next(e for e in status["endpoints"] if e["name"] == endpoint.name)
    # Every tenth call was refused: 200 accepted took at least 222 calls. (botocore's adaptive
    # retries slow the whole client down after each refusal, as against AWS.)
    assert counts["invocations"] == 200 and counts["throttled"] >= 22
