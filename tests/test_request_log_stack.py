"""The serving container's request lines on the local stack: one JSON line per request in the
endpoint's log group, their EMF metrics in CloudWatch (as CloudWatch Logs extracts them on
AWS), and `wasync logs --requests` reading them back."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.waiting import wait_until
from tests.test_json_contract import check
from whisper_async import naming
from whisper_async.clients import Clients
from whisper_async.jobs.fetch import record_id
from whisper_async.requestlog import parse_line
from whisper_async.settings import resolve

pytestmark = pytest.mark.slow
METRICS = {"AudioSeconds", "ProcessingSeconds", "RealTimeFactor"}


def aws_cli(stack, *args: str) -> Any:  # type: ignore[no-untyped-def]
    """The AWS CLI (v1, from the test extras) against the stack, parsed."""
    beside = Path(sys.executable).with_name("aws")
    aws = str(beside) if beside.exists() else (shutil.which("aws") or "aws")
    done = subprocess.run(
        [aws, *args, "--output", "json"],
        env={**os.environ, **stack.env},
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout)


def request_records(stack, endpoint: str) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    logs = Clients(resolve({}, stack.env)).client("logs")
    pages = logs.get_paginator("filter_log_events").paginate(
        logGroupName=naming.log_group(endpoint)
    )
    lines = [event["message"] for page in pages for event in page.get("events", [])]
    return [record for record in map(parse_line, lines) if record is not None]


def job_of(record: dict[str, Any]) -> str:
    """The wasync job a request line belongs to: its inference id is the job id and the run."""
    return record_id(str(record.get("InferenceId")))


def test_every_request_leaves_one_line_and_its_metrics(
    local_stack, own_endpoint: str, data_dir: Path, tmp_path: Path
) -> None:
    transcribed = local_stack.cli(
        "--json",
        "-e",
        own_endpoint,
        "transcribe",
        str(data_dir / "en_short.wav"),
        str(data_dir / "corrupt.mp3"),
        "--wait",
        "-o",
        str(tmp_path),
    )
    printed = [json.loads(line) for line in transcribed.stdout.splitlines()]
    jobs = [line for line in printed if "summary" not in line]  # the last line is the tally
    ids = {job["input"].rsplit("/", 1)[-1]: job["id"] for job in jobs}
    assert set(ids) == {"en_short.wav", "corrupt.mp3"}, transcribed.output

    def both_logged() -> list[dict[str, Any]]:
        records = request_records(local_stack, own_endpoint)
        found = {job_of(record) for record in records}
        return records if set(ids.values()) <= found else []

    records = wait_until(both_logged, "a request line for each job in the log group")
    per_job = Counter(job_of(record) for record in records)
    assert {per_job[job] for job in ids.values()} == {1}  # one line per request, no more
    good = next(r for r in records if job_of(r) == ids["en_short.wav"])
    bad = next(r for r in records if job_of(r) == ids["corrupt.mp3"])
    assert good["Status"] == 200 and good["Outcome"] == "ok" and good["AudioSeconds"] > 0
    assert bad["Status"] >= 400 and bad["Outcome"] != "ok"

    def listed() -> set[str]:
        found = aws_cli(local_stack, "cloudwatch", "list-metrics", "--namespace", "wasync")
        names = {m["MetricName"] for m in found["Metrics"]}
        return names if names >= METRICS else set()

    wait_until(listed, "the EMF metrics in `aws cloudwatch list-metrics`")
    assert good["Endpoint"] == own_endpoint  # deploy names the endpoint in the model's env
    dimension = [{"Name": "Endpoint", "Value": good["Endpoint"]}]
    statistics = aws_cli(
        local_stack,
        "cloudwatch",
        "get-metric-statistics",
        "--namespace",
        "wasync",
        "--metric-name",
        "AudioSeconds",
        "--dimensions",
        json.dumps(dimension),
        "--start-time",
        "2000-01-01T00:00:00Z",
        "--end-time",
        "2100-01-01T00:00:00Z",
        "--period",
        "86400",
        "--statistics",
        "Maximum",
    )
    assert max(p["Maximum"] for p in statistics["Datapoints"]) >= good["AudioSeconds"] - 1e-6

    table = local_stack.cli("-e", own_endpoint, "logs", "--requests", "--since", "1h")
    assert table.exit_code == 0, table.output
    heading, *rows = table.stdout.splitlines()
    assert heading.split()[:3] == ["TIME", "INFERENCE", "ID"]
    assert {record_id(row.split()[1]) for row in rows} >= set(ids.values())
    as_json = local_stack.cli("--json", "-e", own_endpoint, "logs", "--requests", "--since", "1h")
    lines = check("logs --requests", as_json.stdout)
    assert {record_id(line["inference_id"]) for line in lines} >= set(ids.values())
