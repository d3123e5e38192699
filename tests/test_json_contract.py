"""`--json` has one documented shape per command: the README's table is the contract.

Every command runs with `--json` (against moto in-process; transcribe and the local stack's
own commands against a real local stack), its stdout is parsed, and its keys must be the ones
the README lists for it."""

from __future__ import annotations

import dataclasses
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.helpers.models import checkpoint_file
from whisper_async.cli.app import app

README = Path(__file__).resolve().parents[1] / "README.md"
ROLE = "arn:aws:iam::123456789012:role/wasync-test"
IMAGE = "public.ecr.aws/example/wasync:test"


@dataclasses.dataclass(frozen=True)
class Shape:
    lines: bool  # JSON lines, else one document
    required: frozenset[str]
    optional: frozenset[str]
    fixed: bool  # False for "one key per setting/variable"
    last: frozenset[str] | None = None  # the keys of a different last line ("; last line `x`")


def contract() -> dict[str, Shape]:
    """The README's `--json` table: command -> shape."""
    text = README.read_text()
    table = text[text.index("| command | `--json` | keys |") :].split("\n\n", 1)[0]
    shapes = {}
    for row in table.splitlines()[2:]:
        command, kind, keys = (cell.strip() for cell in row.strip("|").split("|"))
        keys, _, last = keys.partition("; last line ")
        names = re.findall(r"`([a-z0-9_]+\??)`", keys)
        shapes[command.strip("`")] = Shape(
            lines=kind == "JSON lines",
            required=frozenset(n for n in names if not n.endswith("?")),
            optional=frozenset(n.rstrip("?") for n in names if n.endswith("?")),
            fixed=bool(names),
            last=frozenset(re.findall(r"`([a-z0-9_]+)`", last)) or None,
        )
    return shapes


def check(command: str, stdout: str) -> list[dict[str, Any]]:
    shape = contract()[command]
    documents = (
        [json.loads(line) for line in stdout.splitlines()] if shape.lines else [json.loads(stdout)]
    )
    assert documents, f"{command} printed nothing"
    if shape.last is not None:
        assert set(documents[-1]) == shape.last, (command, "last line", sorted(documents[-1]))
        documents = documents[:-1]
    for document in documents:
        assert isinstance(document, dict), command
        if shape.fixed:
            keys = set(document)
            assert shape.required <= keys <= shape.required | shape.optional, (
                command,
                sorted(keys ^ shape.required),
            )
    return documents


def run(*args: str) -> str:
    result = CliRunner().invoke(app, ["--json", *args])
    assert result.exit_code in (0, 1), (args, result.output)
    return result.stdout


def test_every_command_has_a_documented_shape() -> None:
    from whisper_async.cli.app import COMMANDS, CONFIG_COMMANDS, LOCAL_COMMANDS

    names = {name for name, _, _ in COMMANDS}
    names |= {f"config {name}" for name, _, _ in CONFIG_COMMANDS}
    names |= {f"local {name}" for name, _, _ in LOCAL_COMMANDS}
    assert names <= set(contract())


def test_result_types_match_the_documented_keys() -> None:
    """Commands this module cannot run here (build needs a container builder) are checked
    through their result type."""
    from whisper_async.image import BuildResult

    assert {f.name for f in dataclasses.fields(BuildResult)} == contract()["build"].required


def test_lifecycle_commands_print_their_documented_json(moto_clients, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    checkpoint = tmp_path / "tiny.pt"
    checkpoint_file(checkpoint)
    check("config show", run("config", "show"))
    check("push-model", run("push-model", str(checkpoint)))
    deploy = ("deploy", "--role", ROLE, "--image-uri", IMAGE, "--instance", "ml.g4dn.xlarge")
    plan = check("deploy --dry-run", run(*deploy, "--notify", "--dry-run"))[0]
    assert set(plan["steps"][0]) == {"service", "operation", "params", "summary", "missing_ok"}
    check("deploy", run(*deploy, "--notify"))
    scaling_plan = check("autoscale --dry-run", run("autoscale", "--dry-run"))[0]
    assert scaling_plan["steps"][-1]["params"]["AlarmActions"] == [{"step": 2, "key": "PolicyARN"}]
    check("autoscale", run("autoscale", "--min", "0", "--max", "2"))
    status = check("status", run("status"))[0]
    assert set(status["autoscaling"]) == {
        "resource_id",
        "min_capacity",
        "max_capacity",
        "target_backlog_per_instance",
        "policies",
        "scale_out_from_zero",
    }
    logs = moto_clients.client("logs")
    group = "/aws/sagemaker/Endpoints/whisper"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="AllTraffic/i-1")
    logs.put_log_events(
        logGroupName=group,
        logStreamName="AllTraffic/i-1",
        logEvents=[{"timestamp": int(time.time() * 1000), "message": "ready"}],
    )
    check("logs", run("logs"))
    check("autoscale --off", run("autoscale", "--off"))
    check("iam", run("iam"))
    check("iam --create --dry-run", run("iam", "--create", "--dry-run"))
    check("iam", run("iam", "--create"))
    check("delete --dry-run", run("delete", "--dry-run", "--topics"))
    check("delete", run("delete", "--yes", "--topics"))


def _finished_job(clients: Any) -> str:
    """A job record and its result in S3, as a finished `transcribe` leaves them."""
    from whisper_async.jobs import JobRecord

    bucket = "sagemaker-us-east-1-123456789012"
    s3 = clients.client("s3")
    s3.create_bucket(Bucket=bucket)
    output = f"s3://{bucket}/wasync/outputs/whisper/job1.out"
    record = JobRecord(
        job_id="job1",
        inference_id="job1",
        endpoint="whisper",
        source="talk.wav",
        output_location=output,
        failure_location=f"{output}.failed",
        submitted_at="2026-01-01T00:00:00+00:00",
    )
    s3.put_object(Bucket=bucket, Key="wasync/jobs/job1.json", Body=record.to_json().encode())
    result = {
        "text": " Hello there.",
        "language": "en",
        "segments": [{"id": 0, "start": 0.0, "end": 1.5, "text": " Hello there."}],
    }
    s3.put_object(
        Bucket=bucket, Key="wasync/outputs/whisper/job1.out", Body=json.dumps(result).encode()
    )
    return "job1"


def test_fetch_prints_one_document_with_the_transcript_inside(moto_clients, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    job = _finished_job(moto_clients)
    fetched = check("fetch", run("fetch", job))[0]
    assert fetched["state"] == "done" and fetched["text"].strip() == "Hello there."
    written = check("fetch", run("fetch", job, "-o", str(tmp_path / "t.txt")))[0]
    assert written["output"] == str(tmp_path / "t.txt") and written["text"] is None
    assert (tmp_path / "t.txt").read_text().strip() == "Hello there."
    listed = check("jobs", run("jobs"))
    assert [j["id"] for j in listed] == [job]


def test_local_commands_without_a_stack_print_their_documented_json(tmp_path: Path) -> None:
    where = ("--state-dir", str(tmp_path))
    assert check("local status", run("local", "status", *where))[0]["running"] is False
    assert check("local down", run("local", "down", *where))[0]["stopped"] is False
    nothing = CliRunner().invoke(app, ["--json", "local", "logs", *where])
    assert nothing.exit_code == 1 and nothing.stdout == ""  # no stack ever ran there
    (tmp_path / "stack.log").write_text("a stopped stack's last line\n")
    [logs] = check("local logs", run("local", "logs", *where))
    assert "a stopped stack's last line" in logs["log"]


@pytest.mark.slow
def test_stack_commands_print_their_documented_json(
    local_stack, data_dir: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    lines = check(
        "transcribe",
        local_stack.cli("--json", "transcribe", str(data_dir / "en_short.wav"), "--wait").stdout,
    )
    assert lines[0]["state"] == "done" and "lazy dog" in lines[0]["text"].lower()
    variables = check(
        "local env",
        local_stack.cli("--json", "local", "env", "--state-dir", str(local_stack.state_dir)).stdout,
    )[0]
    assert variables["WASYNC_PROFILE"] == "local"
    running = check(
        "local status",
        local_stack.cli(
            "--json", "local", "status", "--state-dir", str(local_stack.state_dir)
        ).stdout,
    )[0]
    assert running["running"] is True and running["endpoints"]
    own = ("--state-dir", str(tmp_path / "own"))
    up = local_stack.cli("--json", "local", "up", *own)
    try:
        assert up.exit_code == 0, up.output
        check("local up", up.stdout)
    finally:
        down = local_stack.cli("--json", "local", "down", *own)
    assert check("local down", down.stdout)[0]["stopped"] is True
