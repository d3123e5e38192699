"""The client at scale, through the local stack with the stand-in engine (bench/standin.py).

python -m bench.client [--jobs 10000] [--small 1000] [--interrupts 10]

- one `wasync transcribe DIR --wait` of `--jobs` clips, and of `--small` clips: every result
  present and its own, client peak RSS (flat from small to large?), S3 requests and CPU per job;
- kill -9 of a `--small` batch at a random point, then the same command again: every result
  present, no clip invoked twice (counted in the container's log, one line per request);
- Ctrl-C during uploads, invocations and the wait: seconds from SIGINT to the process's exit;
- a plain boto3 script (upload, invoke, poll) on a batch of `--small` other clips, against
  wasync on the same number: the end-to-end ratio.

The stand-in engine answers at once, so these figures are the client's and the local stack's,
not a model's. Every clip is distinct (its level), so no run finds another run's jobs.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.metrics import verdict
from bench.standin import (
    invocations,
    logged_levels,
    missing_or_wrong,
    upload_model,
    write_clips,
)

BUCKET = "sagemaker-us-east-1-123456789012"
STAGES = ("upload", "invoke", "wait")
STANDIN_CONCURRENCY = 8
WORKERS = 8  # the client's pool on this 2-core machine (4 per core, at least 8)


@dataclass(frozen=True)
class Run:
    """One measured client process."""

    seconds: float
    cpu_seconds: float
    peak_rss_mib: float
    returncode: int
    stdout: str
    stderr: str


def measured(
    argv: list[str],
    env: dict[str, str],
    until: Callable[[subprocess.Popen[str]], None] | None = None,
) -> Run:
    """Run a process to its end; its own peak RSS and CPU time come from wait4's rusage."""
    started = time.perf_counter()
    process = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    streams: dict[str, str] = {}
    readers = [
        threading.Thread(target=lambda n=name, s=stream: streams.__setitem__(n, s.read()))
        for name, stream in (("out", process.stdout), ("err", process.stderr))
    ]
    for reader in readers:
        reader.start()
    if until is not None:
        until(process)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    for reader in readers:
        reader.join()
    return Run(
        seconds,
        usage.ru_utime + usage.ru_stime,
        usage.ru_maxrss / 1024,
        process.returncode,
        streams.get("out", ""),
        streams.get("err", ""),
    )


def max_displacement(order: list[int]) -> int:
    """How far from first-in first-out the containers took the jobs: the largest gap between
    a job's place in the processing order and its place in the submission order."""
    ranks = {level: rank for rank, level in enumerate(sorted(order))}
    return max((abs(position - ranks[level]) for position, level in enumerate(order)), default=0)


class StackSampler:
    """While a batch runs: the most jobs the endpoint ran at once, and the stack's RSS."""

    def __init__(self, emulator: str, endpoint: str, pid: int) -> None:
        self.url = f"{emulator}/_wasync/status"
        self.endpoint = endpoint
        self.pid = pid
        self.most_running = 0
        self.first_rss = self.last_rss = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> StackSampler:
        self.first_rss = rss_mib(self.pid)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.last_rss = rss_mib(self.pid)

    def _sample(self) -> None:
        import httpx

        while not self._stop.wait(0.2):
            try:
                endpoints = httpx.get(self.url, timeout=5).json()["endpoints"]
            except (httpx.HTTPError, ValueError):
                continue
            for endpoint in endpoints:
                if endpoint["name"] == self.endpoint:
                    self.most_running = max(self.most_running, int(endpoint["running"]))


def rss_mib(pid: int) -> float:
    """Resident memory now (VmRSS) of a process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Bench:
    def __init__(
        self, env: dict[str, str], state_dir: Path, workdir: Path, stack_pid: int = 0
    ) -> None:
        from whisper_async.clients import Clients
        from whisper_async.settings import resolve
        from whisper_async.storage import ensure_bucket

        self.env = env
        self.state_dir = state_dir
        self.workdir = workdir
        self.stack_pid = stack_pid
        self.next_level = 1
        clients = Clients(resolve({}, env))
        ensure_bucket(clients)
        self.s3 = clients.client("s3")

    def wasync(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "whisper_async", *args]

    def deploy(self, name: str, seconds: float = 0.0, concurrency: int = 8) -> None:
        uri = upload_model(self.s3, BUCKET, seconds)
        result = subprocess.run(
            self.wasync(
                "-e",
                name,
                "deploy",
                "--instance",
                "ml.g5.xlarge",
                "--model",
                uri,
                "--max-concurrency",
                str(concurrency),
            ),
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(result.stderr)

    def clips(self, count: int) -> tuple[Path, range]:
        """A folder of `count` clips no earlier run has seen."""
        levels = range(self.next_level, self.next_level + count)
        self.next_level += count
        folder = self.workdir / f"clips-{levels.start}"
        write_clips(folder, count, levels.start)
        return folder, levels

    def invocations(self, endpoint: str) -> collections.Counter[int]:
        return invocations(self.state_dir, endpoint)

    def objects(self, prefix: str) -> int:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        return sum(len(page.get("Contents", [])) for page in pages)

    # ---- the measurements ------------------------------------------------------------------
    def batch(self, count: int, endpoint: str = "standin") -> dict[str, Any]:
        folder, levels = self.clips(count)
        out = self.workdir / f"out-{levels.start}"
        sampler = StackSampler(self.env["AWS_ENDPOINT_URL_SAGEMAKER"], endpoint, self.stack_pid)
        with sampler:
            run = measured(
                self.wasync(
                    "--json", "-e", endpoint, "transcribe", str(folder), "--wait", "-o", str(out)
                ),
                self.env,
            )
        summary = json.loads(run.stdout.strip().splitlines()[-1])["summary"]
        wrong = list(missing_or_wrong(out, levels))
        invoked = self.invocations(endpoint)
        order = [level for level in logged_levels(self.state_dir, endpoint) if level in levels]
        return {
            "count": count,
            "run": run,
            "summary": summary,
            "wrong": wrong,
            "lost": sum(1 for level in levels if invoked[level] == 0),
            "twice": sum(1 for level in levels if invoked[level] > 1),
            "displacement": max_displacement(order),
            "most_running": sampler.most_running,
            "stack_rss": (sampler.first_rss, sampler.last_rss),
        }

    def kill_and_resume(self, count: int, endpoint: str = "standin") -> dict[str, Any]:
        folder, levels = self.clips(count)
        out = self.workdir / f"out-{levels.start}"
        argv = self.wasync("-e", endpoint, "transcribe", str(folder), "--wait", "-o", str(out))
        point = random.Random().randint(count // 20, count * 9 // 10)

        def kill_at_point(process: subprocess.Popen[str]) -> None:
            while len(list(out.glob("*.txt"))) < point and process.poll() is None:
                time.sleep(0.05)
            process.kill()

        killed = measured(argv, self.env, kill_at_point)
        resumed = measured(argv, self.env)
        invoked = self.invocations(endpoint)
        twice = sum(1 for level in levels if invoked[level] > 1)
        never = sum(1 for level in levels if invoked[level] == 0)
        return {
            "count": count,
            "point": point,
            "killed": killed,
            "resumed": resumed,
            "wrong": list(missing_or_wrong(out, levels)),
            "twice": twice,
            "never": never,
        }

    def interrupt(self, stage: str, endpoint: str, count: int) -> float:
        """Seconds from SIGINT to exit, with the client in `stage`."""
        folder, levels = self.clips(count)
        prefix = f"ctrlc-{levels.start}/"
        argv = self.wasync(
            "-e",
            endpoint,
            "--prefix",
            prefix,
            "transcribe",
            str(folder),
            "--wait",
            "-o",
            str(self.workdir / f"out-{levels.start}"),
        )
        if stage == "upload":
            argv.append("--no-inline")
        watched, enough = (
            ("inputs/", 5) if stage == "upload" else ("jobs/", 5 if stage == "invoke" else count)
        )
        sent: list[float] = []

        def interrupt_in_stage(process: subprocess.Popen[str]) -> None:
            while self.objects(prefix + watched) < enough and process.poll() is None:
                time.sleep(0.02)
            sent.append(time.perf_counter())
            process.send_signal(signal.SIGINT)

        run = measured(argv, self.env, interrupt_in_stage)
        ended = time.perf_counter()
        if run.returncode != 130:
            raise RuntimeError(
                f"Ctrl-C during {stage} ended with {run.returncode}: {run.stderr[-500:]}"
            )
        return ended - sent[0]

    def plain_boto3(self, count: int, endpoint: str = "standin") -> dict[str, Any]:
        folder, levels = self.clips(count)
        out = self.workdir / f"out-{levels.start}"
        out.mkdir()
        script = Path(__file__).with_name("plain_boto3.py")
        run = measured(
            [
                sys.executable,
                str(script),
                BUCKET,
                endpoint,
                str(out),
                *map(str, sorted(folder.iterdir())),
            ],
            self.env,
        )
        return {"count": count, "run": run, "wrong": list(missing_or_wrong(out, levels))}


def measure(jobs: int, small: int, interrupts: int, workdir: Path) -> dict[str, Any]:
    from whisper_async.local import stack

    info = stack.up(workdir / "stack")
    try:
        env = {
            **os.environ,
            **stack.environment(info.state_dir),
            "XDG_CONFIG_HOME": str(workdir / "config"),
        }
        bench = Bench(env, info.state_dir, workdir, info.pid)
        bench.deploy("standin", concurrency=STANDIN_CONCURRENCY)
        bench.deploy("standin-slow", seconds=0.5, concurrency=1)
        result: dict[str, Any] = {"jobs": jobs, "small": small}
        result["small_batch"] = bench.batch(small)
        result["large_batch"] = bench.batch(jobs)
        result["plain"] = bench.plain_boto3(small)
        result["kill"] = bench.kill_and_resume(small)
        result["ctrl_c"] = {
            stage: [
                bench.interrupt(
                    stage,
                    "standin-slow" if stage == "wait" else "standin",
                    20 if stage == "wait" else 200,
                )
                for _ in range(interrupts)
            ]
            for stage in STAGES
        }
    finally:
        stack.down(info.state_dir, grace=0)
    return result


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def figures(result: dict[str, Any]) -> dict[str, Any]:
    small, large = result["small_batch"], result["large_batch"]
    requests = large["summary"]["s3_requests"] / large["count"]
    flat = large["run"].peak_rss_mib / small["run"].peak_rss_mib
    ratio = result["plain"]["run"].seconds / small["run"].seconds
    p99 = max(percentile(samples, 0.99) for samples in result["ctrl_c"].values())
    kill = result["kill"]
    complete = (
        not large["wrong"] and not small["wrong"] and large["summary"]["done"] == large["count"]
    )
    return {
        "requests": requests,
        "flat": flat,
        "ratio": ratio,
        "p99": p99,
        "complete": complete,
        "resumed": not kill["wrong"] and kill["twice"] == 0 and kill["resumed"].returncode == 0,
    }


def goal_rows(result: dict[str, Any]) -> list[str]:
    """The client's rows of the goals table in docs/benchmarks.md."""
    f = figures(result)
    large, kill = result["large_batch"], result["kill"]
    return [
        f"| {large['count']:,} stand-in jobs in one `transcribe --wait`: every result present and its own | "
        f"{large['summary']['done']:,} done, {len(large['wrong'])} missing or wrong | {verdict(f['complete'])} |",
        f"| client peak RSS < 150 MB | {large['run'].peak_rss_mib:.0f} MB | {verdict(large['run'].peak_rss_mib < 150)} |",
        f"| ... and flat: {large['count']:,} vs {result['small']:,} jobs within 20% | {f['flat']:.2f}x | "
        f"{verdict(0.8 <= f['flat'] <= 1.2)} |",
        f"| S3 requests per job <= 3 | {f['requests']:.2f} | {verdict(f['requests'] <= 3)} |",
        f"| the local stack keeps up: none lost, none twice, at most {STANDIN_CONCURRENCY} running | "
        f"{large['lost']} lost, {large['twice']} twice, {large['most_running']} at most | "
        f"{verdict(not large['lost'] and not large['twice'] and large['most_running'] <= STANDIN_CONCURRENCY)} |",
        f"| kill -9 at a random point of {kill['count']:,} jobs, then again: all present, none invoked twice | "
        f"{len(kill['wrong'])} missing, {kill['twice']} twice | {verdict(f['resumed'])} |",
        f"| Ctrl-C to exit, p99 of each stage < 1 s | {f['p99']:.2f} s (worst stage) | {verdict(f['p99'] < 1)} |",
        f"| >= 2x faster than a plain boto3 script ({result['small']:,} jobs) | {f['ratio']:.2f}x | {verdict(f['ratio'] >= 2)} |",
    ]


def report(result: dict[str, Any]) -> str:
    small, large, plain, kill = (result[k] for k in ("small_batch", "large_batch", "plain", "kill"))
    rows = [
        "The stand-in engine (whisper_async/serving/standin.py) answers at once, so these are the client's and "
        f"the local stack's figures. Endpoint `standin`: MaxConcurrentInvocationsPerInstance {STANDIN_CONCURRENCY}; each clip is 0.1 s, "
        "sent inline. Peak RSS and CPU time are the client process's own (wait4).",
        "",
        "| run | jobs | time | jobs/s | client CPU per job | client peak RSS | S3 requests per job |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, batch in (
        ("`wasync transcribe DIR --wait`", small),
        ("`wasync transcribe DIR --wait`", large),
    ):
        run, count = batch["run"], batch["count"]
        rows.append(
            f"| {name} | {count:,} | {run.seconds:.1f} s | {count / run.seconds:.1f} | "
            f"{1000 * run.cpu_seconds / count:.1f} ms | {run.peak_rss_mib:.0f} MB | "
            f"{batch['summary']['s3_requests'] / count:.2f} |"
        )
    prun = plain["run"]
    rows.append(
        f"| plain boto3 script: upload, invoke, poll (bench/plain_boto3.py) | {plain['count']:,} | {prun.seconds:.1f} s | "
        f"{plain['count'] / prun.seconds:.1f} | {1000 * prun.cpu_seconds / plain['count']:.1f} ms | "
        f"{prun.peak_rss_mib:.0f} MB | - |"
    )
    rows += [
        "",
        f"The local stack during the {large['count']:,}-job batch (endpoint concurrency "
        f"{STANDIN_CONCURRENCY}, one instance): {large['lost']} jobs lost, {large['twice']} run twice "
        f"(counted in the container's log), at most {large['most_running']} running at once, jobs taken "
        f"at most {large['displacement']} places from first-in first-out order (the client submits "
        f"from {WORKERS} threads), stack RSS {large['stack_rss'][0]:.0f} MB before and "
        f"{large['stack_rss'][1]:.0f} MB after (moto keeps every object of the run in memory: records, "
        "inputs and results; a job that ended leaves nothing in the emulator's queues).",
        "",
        f"wasync is {prun.seconds / small['run'].seconds:.2f}x as fast as the plain script end to end on "
        f"{small['count']:,} jobs ({len(plain['wrong'])} of the script's results missing or wrong).",
        "",
        f"kill -9 after {kill['point']:,} of {kill['count']:,} results, then the same command: "
        f"{kill['resumed'].seconds:.1f} s to finish, {len(kill['wrong'])} results missing or wrong, "
        f"{kill['twice']} clips invoked twice, {kill['never']} never (counted in the container's log). "
        "The second run sends the jobs the killed one had claimed but may not have sent only once the "
        "endpoint has drained (docs/jobs.md).",
        "",
        "Ctrl-C: seconds from SIGINT to the client's exit (exit code 130 each time):",
        "",
        "| stage | samples | median | p99 | max |",
        "|---|---|---|---|---|",
    ]
    for stage, samples in result["ctrl_c"].items():
        rows.append(
            f"| {stage} | {len(samples)} | {statistics.median(samples):.2f} s | "
            f"{percentile(samples, 0.99):.2f} s | {max(samples):.2f} s |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--interrupts", type=int, default=10)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="wasync-bench-") as directory:
        result = measure(args.jobs, args.small, args.interrupts, Path(directory))
    print("\n".join(["| goal | measured | verdict |", "|---|---|---|", *goal_rows(result)]))
    print()
    print(report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
