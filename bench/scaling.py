"""Scale to zero, measured: `wasync autoscale --min 0 --max 3` on the local stack at a
compressed clock (issue 16's goals).

python -m bench.scaling [--jobs 60] [--cycles 3] [--time-scale 60]

1. From zero: one job on an endpoint at zero instances. When is capacity requested, and where
   does the invoke->result time go (waiting for capacity, container start, model load,
   transcription)?
2. Idle to zero: after that job, how long until the endpoint is at zero instances again?
3. A burst of N jobs on the autoscaled endpoint (0-3 instances, from zero) and on one fixed at
   3 instances: job completion times, instance-seconds used, and the saving.
4. A wrong setting (a from-zero alarm threshold the metric never reaches): does `wasync status`
   flag the work waiting at zero?

Every time is measured on the stack's clock (wall-clock seconds) and shown in AWS time too
(x the time scale). Alarms and cooldowns run on the compressed clock; starting a container,
loading the model and transcribing do not, so their AWS-time figures only say how the
emulation counted them.
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bench.corpus import DATA
from bench.metrics import Spread

BUCKET = "sagemaker-us-east-1-123456789012"
COOLDOWN_IN, ALARM_PERIOD, LOW_ALARM_PERIODS = 600, 60, 15  # `wasync autoscale`'s defaults


class Lab:
    """A local stack on a compressed clock, and what the benchmark asks of it."""

    def __init__(self, workdir: Path, time_scale: float) -> None:
        from whisper_async.clients import Clients
        from whisper_async.local import stack
        from whisper_async.settings import resolve

        self.scale = time_scale
        self.info = stack.up(workdir / "stack", time_scale=time_scale)
        self.env = {**os.environ, **stack.environment(self.info.state_dir)}
        self.env["XDG_CONFIG_HOME"] = str(workdir / "config")
        self.clients = Clients(resolve({}, self.env))
        self.audio = DATA / "en_short.wav"

    def close(self) -> None:
        from whisper_async.local import stack

        stack.down(self.info.state_dir, grace=5)

    def wasync(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "whisper_async", *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"wasync {' '.join(args)}: {result.stderr}")
        return result.stdout + result.stderr

    def aws_minutes(self, seconds: float) -> float:
        return seconds * self.scale / 60

    def counts(self, endpoint: str) -> tuple[str, int, int]:
        described = self.clients.client("sagemaker").describe_endpoint(EndpointName=endpoint)
        variant = described["ProductionVariants"][0]
        return (
            described["EndpointStatus"],
            variant["CurrentInstanceCount"],
            variant["DesiredInstanceCount"],
        )

    def activities(self, endpoint: str) -> list[dict[str, Any]]:
        return list(
            self.clients.client("application-autoscaling").describe_scaling_activities(
                ServiceNamespace="sagemaker", ResourceId=f"endpoint/{endpoint}/variant/AllTraffic"
            )["ScalingActivities"]
        )

    def instances(self, endpoint: str) -> list[dict[str, Any]]:
        url = self.env["AWS_ENDPOINT_URL_SAGEMAKER"] + "/_wasync/status"
        found = httpx.get(url, timeout=30).json()["endpoints"]
        return next((e["instances"] for e in found if e["name"] == endpoint), [])

    def at_zero(self, endpoint: str) -> bool:
        settled = all(a["StatusCode"] != "InProgress" for a in self.activities(endpoint))
        return self.counts(endpoint) == ("InService", 0, 0) and settled

    def invoke(self, endpoint: str) -> tuple[float, str]:
        """(when it was invoked, the output's S3 key)."""
        key = f"bench-scaling/{uuid.uuid4().hex}.wav"
        self.clients.client("s3").upload_file(str(self.audio), BUCKET, key)
        invoked = time.time()
        response = self.clients.client("sagemaker-runtime").invoke_endpoint_async(
            EndpointName=endpoint, InputLocation=f"s3://{BUCKET}/{key}", ContentType="audio/wav"
        )
        return invoked, response["OutputLocation"].split("/", 3)[3]

    def landed(self, key: str) -> bool:
        from whisper_async.storage import S3Uri, head

        return head(self.clients, S3Uri(BUCKET, key)) is not None


def until(check: Callable[[], Any], what: str, poll: float = 0.05, timeout: float = 900) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"gave up waiting for {what}")
        time.sleep(poll)
    return value


def deploy(lab: Lab, endpoint: str, *args: str) -> None:
    lab.wasync(
        "-e", endpoint, "deploy", "--instance", "ml.g5.xlarge", "--max-concurrency", "1", *args
    )


def from_zero_and_back(lab: Lab, endpoint: str) -> dict[str, float]:
    """One job at zero instances, its phases, then the idle time back to zero."""
    until(lambda: lab.at_zero(endpoint), "the endpoint at zero")
    seen: dict[str, float] = {}
    invoked, key = lab.invoke(endpoint)

    def watch_instance() -> bool:
        for instance in lab.instances(endpoint):
            if instance.get("healthy_at"):
                seen.update({k: instance[k] for k in ("started_at", "answered_at", "healthy_at")})
        return lab.landed(key)

    until(watch_instance, "the job's result")
    result = time.time()
    requested = next(
        a["StartTime"].timestamp()
        for a in lab.activities(endpoint)
        if a["Description"].endswith(" to 1.")
    )
    until(lambda: lab.counts(endpoint)[1] == 0, "the idle endpoint at zero", poll=0.05)
    zero = time.time()
    until(lambda: lab.at_zero(endpoint), "the scale-in settled")
    return {
        "requested": requested - invoked,
        "provisioning": seen["started_at"] - requested,
        "container start": seen["answered_at"] - seen["started_at"],
        "model load": seen["healthy_at"] - seen["answered_at"],
        "transcription": result - seen["healthy_at"],
        "invoke to result": result - invoked,
        "idle to zero": zero - result,
    }


def burst(lab: Lab, endpoint: str, jobs: int, until_zero: bool) -> dict[str, Any]:
    """`jobs` jobs at once: each one's completion time, and the instance-seconds from the first
    invoke until the last result (or, with `until_zero`, until back at zero instances)."""
    samples: list[tuple[float, int]] = []
    stop = threading.Event()

    def count_instances() -> None:
        while not stop.is_set():
            samples.append((time.time(), len(lab.instances(endpoint))))
            stop.wait(0.2)

    keys = []
    started = time.time()
    counter = threading.Thread(target=count_instances, daemon=True)
    counter.start()
    for _ in range(jobs):
        keys.append(lab.invoke(endpoint)[1])
    done: dict[str, float] = {}

    def all_landed() -> bool:
        for key in keys:
            if key not in done and lab.landed(key):
                done[key] = time.time() - started
        return len(done) == len(keys)

    until(all_landed, f"{jobs} results", poll=0.2)
    if until_zero:
        until(lambda: lab.at_zero(endpoint), "the endpoint back at zero", poll=0.2)
    stop.set()
    counter.join()
    ended = time.time()
    used = sum(count * (later - now) for (now, count), (later, _) in itertools.pairwise(samples))
    return {
        "completions": sorted(done.values()),
        "instance_seconds": used,
        "window": ended - started,
        "peak": max(count for _, count in samples),
    }


def wrong_threshold(lab: Lab, endpoint: str) -> dict[str, Any]:
    """The from-zero alarm's threshold set where HasBacklogWithoutCapacity (0 or 1) never
    reaches; a job at zero waits; how soon does `wasync status` flag it?"""
    cloudwatch = lab.clients.client("cloudwatch")
    alarm = next(
        a
        for a in cloudwatch.describe_alarms()["MetricAlarms"]
        if a.get("MetricName") == "HasBacklogWithoutCapacity"
        and {"Name": "EndpointName", "Value": endpoint} in a["Dimensions"]
    )
    keys = "AlarmName Namespace MetricName Dimensions Statistic Period EvaluationPeriods DatapointsToAlarm ComparisonOperator TreatMissingData AlarmActions"
    cloudwatch.put_metric_alarm(**{k: alarm[k] for k in keys.split() if k in alarm}, Threshold=2.0)
    until(lambda: lab.at_zero(endpoint), "the endpoint at zero")
    invoked, key = lab.invoke(endpoint)

    def flagged() -> int | None:
        found = re.search(
            r"backlog without capacity for (\d+) minute", lab.wasync("-e", endpoint, "status")
        )
        return int(found.group(1)) if found else None

    minutes = until(flagged, "status to flag the backlog", poll=0.2)
    flagged_after = time.time() - invoked
    stuck = lab.counts(endpoint) == ("InService", 0, 0) and not lab.landed(key)
    lab.wasync("-e", endpoint, "autoscale", "--min", "0", "--max", "3")  # the right alarm back
    until(lambda: lab.landed(key), "the job once the alarm is right")
    return {"minutes": minutes, "after": flagged_after, "stuck": stuck}


def measure(jobs: int, cycles: int, time_scale: float, workdir: Path) -> dict[str, Any]:
    from tests.helpers.models import tiny_en_ctranslate2

    lab = Lab(workdir, time_scale)
    try:
        lab.wasync("push-model", str(tiny_en_ctranslate2()), "--name", "tiny.en")
        deploy(lab, "scaled")
        lab.wasync("-e", "scaled", "autoscale", "--min", "0", "--max", "3")
        phases = [from_zero_and_back(lab, "scaled") for _ in range(cycles)]
        until(lambda: lab.at_zero("scaled"), "the endpoint at zero")
        scaled = burst(lab, "scaled", jobs, until_zero=True)
        deploy(lab, "fixed", "--initial-count", "3")  # while `scaled` is at zero: no contention
        fixed = burst(lab, "fixed", jobs, until_zero=False)
        lab.wasync("-e", "fixed", "delete", "--yes")
        wrong = wrong_threshold(lab, "scaled")
    finally:
        lab.close()
    return {
        "time_scale": time_scale,
        "jobs": jobs,
        "phases": {name: Spread.of([p[name] for p in phases]) for name in phases[0]},
        "scaled": scaled,
        "fixed": fixed,
        "wrong": wrong,
    }


def both(seconds: float, scale: float) -> str:
    """A stack-clock duration and its AWS-clock equivalent."""
    return f"{seconds:.1f} s ({seconds * scale / 60:.1f} AWS min)"


def goals(result: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(goal, measured, met) for each of issue 16's goals."""
    scale, phases = result["time_scale"], result["phases"]
    bound = (COOLDOWN_IN + LOW_ALARM_PERIODS * ALARM_PERIOD) / scale
    idle, requested = phases["idle to zero"], phases["requested"]
    scaled, wrong = result["scaled"], result["wrong"]
    fixed_cost = 3 * scaled["window"]
    return [
        (
            "idle endpoint at 0 instances within scale-in cooldown + alarm periods of the last job "
            f"({bound * scale / 60:.0f} AWS min)",
            f"slowest {both(idle.maximum, scale)}",
            idle.maximum <= bound,
        ),
        (
            "from zero, capacity requested within 2 alarm periods of the invoke (2 AWS min)",
            f"slowest {both(requested.maximum, scale)}",
            requested.maximum <= 2 * ALARM_PERIOD / scale,
        ),
        (
            f"a burst of {result['jobs']} jobs scales out to 3 instances and back to 0",
            f"peak {scaled['peak']} instances, back at 0 after {both(scaled['window'], scale)}",
            scaled["peak"] == 3,
        ),
        (
            "instance-seconds saved against an endpoint fixed at 3 over the same window",
            f"{fixed_cost / scaled['instance_seconds']:.2f}x fewer",
            scaled["instance_seconds"] < fixed_cost,
        ),
        (
            "a from-zero threshold that never fires leaves work queued at zero, and status flags it",
            f"flagged after {both(wrong['after'], scale)} ('{wrong['minutes']} minutes')",
            wrong["stuck"],
        ),
    ]


def report(result: dict[str, Any]) -> str:
    scale, phases = result["time_scale"], result["phases"]
    scaled, fixed = result["scaled"], result["fixed"]

    def completions(run: dict[str, Any]) -> str:
        times = run["completions"]
        return (
            f"first {times[0]:.1f} s, median {statistics.median(times):.1f} s, "
            f"last {times[-1]:.1f} s"
        )

    rows = [
        f"| {name} | {s.median:.2f} s [{s.minimum:.2f}-{s.maximum:.2f}] | "
        f"{s.median * scale / 60:.1f} AWS min |"
        for name, s in phases.items()
    ]
    return "\n".join(
        [
            f"Stack clock at --time-scale {scale:g} (one AWS minute = {60 / scale:g} s). "
            "Median [min-max] of the from-zero cycles; engine tiny.en (CTranslate2), "
            "`MaxConcurrentInvocationsPerInstance` 1, `wasync autoscale --min 0 --max 3` "
            "(target 2, scale-in cooldown 600 s, scale-out cooldown 60 s).",
            "",
            "| from zero: phase | stack time | AWS time |",
            "|---|---|---|",
            *rows,
            "",
            "`requested` is invoke -> the scale-out activity's start (the from-zero alarm's 2 of 2 "
            "minutes); `provisioning` the activity's start -> the container process; `container "
            "start` -> its `/ping` first answers; `model load` -> `/ping` 200; `transcription` -> "
            "the result in S3 (queue pickup included). `idle to zero` is the result -> "
            "`CurrentInstanceCount` 0.",
            "",
            f"A burst of {result['jobs']} jobs:",
            "",
            "| endpoint | job completion (from the first invoke) | instance-seconds | window |",
            "|---|---|---|---|",
            f"| autoscaled 0-3, from zero | {completions(scaled)} | "
            f"{scaled['instance_seconds']:.0f} | {both(scaled['window'], scale)} until back at 0 |",
            f"| fixed at 3 instances | {completions(fixed)} | "
            f"{fixed['instance_seconds']:.0f} | {both(fixed['window'], scale)} until the last result |",
            "",
            f"Over the autoscaled run's window, an endpoint fixed at 3 would have used "
            f"{3 * scaled['window']:.0f} instance-seconds: "
            f"{3 * scaled['window'] / scaled['instance_seconds']:.2f}x the autoscaled endpoint's "
            f"{scaled['instance_seconds']:.0f}. The autoscaled burst finished "
            f"{scaled['completions'][-1] / fixed['completions'][-1]:.2f}x later (the price of "
            "starting from zero). Over a day with one such burst the fixed endpoint runs "
            "24 hours and the autoscaled one only this window.",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=60)
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--time-scale", type=float, default=60.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="wasync-bench-") as directory:
        result = measure(args.jobs, args.cycles, args.time_scale, Path(directory))
    print(report(result))
    for goal, measured, met in goals(result):
        print(f"- {goal}: {measured}: {'met' if met else 'missed'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
