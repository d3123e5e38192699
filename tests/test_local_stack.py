"""The local stack as SageMaker: wire protocols, lifecycle, faults and notifications."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import boto3
import httpx
import pytest

from tests.helpers.stack import running_stack
from whisper_async.clients import Clients
from whisper_async.settings import resolve

pytestmark = pytest.mark.slow
BUCKET = "sagemaker-us-east-1-123456789012"


def clients_for(stack) -> Clients:  # type: ignore[no-untyped-def]
    return Clients(resolve({}, stack.env))


def upload_tarball(
    stack, key: str, members: dict[str, bytes], link: tuple[str, str] | None = None
) -> str:  # type: ignore[no-untyped-def]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if link:
            info = tarfile.TarInfo(link[0])
            info.type = tarfile.SYMTYPE
            info.linkname = link[1]
            tar.addfile(info)
    clients_for(stack).client("s3").put_object(Bucket=BUCKET, Key=key, Body=buffer.getvalue())
    return f"s3://{BUCKET}/{key}"


def subscribed_queue(clients: Clients, name: str) -> str:
    """An SQS queue subscribed to the `whisper` endpoint's success and error topics."""
    sqs, sns = clients.client("sqs"), clients.client("sns")
    queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    for topic in sns.list_topics()["Topics"]:
        if topic["TopicArn"].split(":")[-1] in {"wasync-whisper-success", "wasync-whisper-error"}:
            sns.subscribe(
                TopicArn=topic["TopicArn"],
                Protocol="sqs",
                Endpoint=attributes["Attributes"]["QueueArn"],
            )
    return str(queue_url)


def test_aws_cli_invokes_and_copies_a_transcript(
    local_stack, data_dir: Path, tmp_path: Path
) -> None:
    env = {**os.environ, **local_stack.env}
    beside = Path(sys.executable).with_name("aws")  # awscli from the test extras, in this venv
    aws = [str(beside) if beside.exists() else (shutil.which("aws") or "aws")]
    subprocess.run(
        [*aws, "s3", "cp", str(data_dir / "en_short.wav"), f"s3://{BUCKET}/cli/en.wav"],
        env=env,
        check=True,
        capture_output=True,
    )
    invoked = subprocess.run(
        [
            *aws,
            "sagemaker-runtime",
            "invoke-endpoint-async",
            "--endpoint-name",
            "whisper",
            "--input-location",
            f"s3://{BUCKET}/cli/en.wav",
            "--content-type",
            "audio/wav",
            "--custom-attributes",
            "format=txt",
        ],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    output = json.loads(invoked.stdout)["OutputLocation"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        copied = subprocess.run(
            [*aws, "s3", "cp", output, str(tmp_path / "out.txt")], env=env, capture_output=True
        )
        if copied.returncode == 0:
            break
        time.sleep(0.5)
    assert "lazy dog" in (tmp_path / "out.txt").read_text().lower()


def test_emulator_validates_like_aws(local_stack) -> None:
    from botocore.exceptions import ClientError

    runtime = clients_for(local_stack).client("sagemaker-runtime")
    with pytest.raises(ClientError) as info:
        runtime.invoke_endpoint_async(
            EndpointName="whisper", InputLocation=f"s3://{BUCKET}/x", Filename="a.b.c"
        )
    assert (
        "Filename" in str(info.value) and info.value.response["Error"]["Code"] == "ValidationError"
    )
    sagemaker = clients_for(local_stack).client("sagemaker")
    with pytest.raises(ClientError) as missing:
        sagemaker.describe_endpoint(EndpointName="never-made")
    assert missing.value.response["Error"]["Code"] == "ValidationException"
    assert 'Could not find endpoint "never-made"' in str(missing.value)


def test_notifications_one_per_job_with_the_right_status(local_stack, data_dir: Path) -> None:
    clients = clients_for(local_stack)
    sqs = clients.client("sqs")
    queue_url = subscribed_queue(clients, "wasync-notes")
    # --rerun: a new job each, even if an earlier test transcribed the same file
    good, bad = (
        json.loads(
            local_stack.cli(
                "--json", "transcribe", str(data_dir / name), "--wait", "--rerun"
            ).stdout.splitlines()[0]
        )
        for name in ("en_short.wav", "corrupt.mp3")
    )
    messages: list[dict] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(messages) < 2:
        for message in sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        ).get("Messages", []):
            messages.append(json.loads(json.loads(message["Body"])["Message"]))
    by_id = {m["inferenceId"].split("-")[0]: m for m in messages}  # job id, then the run
    assert len(messages) == 2 and set(by_id) == {good["id"], bad["id"]}
    assert by_id[good["id"]]["invocationStatus"] == "Completed"
    assert by_id[good["id"]]["responseParameters"]["outputLocation"].endswith(".out")
    assert by_id[bad["id"]]["invocationStatus"] == "Failed"
    assert "decode" in by_id[bad["id"]]["failureReason"]
    assert by_id[bad["id"]]["requestParameters"]["endpointName"] == "whisper"


def test_killing_the_container_mid_job_fails_that_job_and_later_jobs_succeed(
    local_stack, data_dir: Path, tmp_path: Path
) -> None:
    from bench.corpus import build

    long_clip = build(tmp_path, long_repeats=3)[-1]  # seconds of work: still running at the kill
    submitted = json.loads(
        local_stack.cli("--json", "transcribe", str(long_clip), "--rerun").stdout.splitlines()[0]
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        endpoint = json.loads(
            local_stack.cli(
                "--json", "local", "status", "--state-dir", str(local_stack.state_dir)
            ).stdout
        )["endpoints"][0]
        if endpoint["running"]:
            break
        time.sleep(0.05)
    time.sleep(0.3)
    os.kill(endpoint["pid"], signal.SIGKILL)
    fetched = local_stack.cli("fetch", submitted["id"], "--wait", "--timeout", "60s")
    assert fetched.exit_code == 1
    assert "container exited" in fetched.stderr
    later = local_stack.cli(
        "transcribe", str(data_dir / "en_short.wav"), "--wait", "--timeout", "120s"
    )
    assert later.exit_code == 0 and "lazy dog" in later.stdout.lower()
    status = json.loads(
        local_stack.cli(
            "--json", "local", "status", "--state-dir", str(local_stack.state_dir)
        ).stdout
    )
    assert status["endpoints"][0]["restarts"] >= 1


def test_path_traversal_tarball_is_refused_and_the_endpoint_fails(local_stack) -> None:
    uri = upload_tarball(
        local_stack,
        "evil/model.tar.gz",
        {"../../escape.txt": b"x", "model.bin": b"x", "config.json": b"{}"},
    )
    result = local_stack.cli("-e", "evil", "deploy", "--model", uri, "--instance", "ml.g5.xlarge")
    assert result.exit_code == 1
    assert "points outside the model directory" in result.stderr
    assert not (local_stack.state_dir / "endpoints" / "escape.txt").exists()
    local_stack.cli("-e", "evil", "delete", "--yes")


def test_symlink_in_tarball_is_refused(local_stack) -> None:
    uri = upload_tarball(
        local_stack, "link/model.tar.gz", {"model.bin": b"x"}, link=("config.json", "/etc/passwd")
    )
    result = local_stack.cli("-e", "linked", "deploy", "--model", uri, "--instance", "ml.g5.xlarge")
    assert result.exit_code == 1 and "links are not allowed" in result.stderr
    local_stack.cli("-e", "linked", "delete", "--yes")


def test_model_that_cannot_load_fails_the_endpoint_with_the_reason(local_stack) -> None:
    uri = upload_tarball(
        local_stack, "broken/model.tar.gz", {"model.bin": b"not weights", "config.json": b"{}"}
    )
    result = local_stack.cli("-e", "broken", "deploy", "--model", uri, "--instance", "ml.g5.xlarge")
    assert result.exit_code == 1
    assert "Endpoint broken failed" in result.stderr and "model load failed" in result.stderr
    status = local_stack.cli("--json", "-e", "broken", "status")
    assert json.loads(status.stdout)["status"] == "Failed"
    local_stack.cli("-e", "broken", "delete", "--yes")


def test_lifecycle_update_to_a_second_model_then_delete(
    local_stack, base_dir: Path, data_dir: Path
) -> None:
    stack = local_stack
    assert (
        stack.cli("-e", "multi", "push-model", str(data_dir.parent / "helpers" / "..")).exit_code
        != 0
    )  # not a model
    from tests.helpers.models import tiny_en_ctranslate2

    assert (
        stack.cli(
            "-e",
            "multi",
            "deploy",
            "--instance",
            "ml.g5.xlarge",
            "--model",
            json.loads(
                stack.cli(
                    "--json", "push-model", str(tiny_en_ctranslate2()), "--name", "tiny.en"
                ).stdout
            )["uri"],
        ).exit_code
        == 0
    )
    assert stack.cli("-e", "multi", "autoscale", "--min", "0", "--max", "2").exit_code == 0
    second = json.loads(stack.cli("--json", "push-model", str(base_dir), "--name", "base").stdout)
    updated = stack.cli(
        "--json", "-e", "multi", "deploy", "--instance", "ml.g5.xlarge", "--model", second["uri"]
    )
    assert updated.exit_code == 0, updated.output
    result = json.loads(updated.stdout)
    assert result["action"] == "update" and len(result["removed"]) == 2
    german = stack.cli(
        "-e", "multi", "transcribe", str(data_dir / "de_short.wav"), "--wait", "-f", "json"
    )
    assert json.loads(german.stdout)["language"] == "de"
    status = json.loads(stack.cli("--json", "-e", "multi", "status").stdout)
    assert status["model_data"] == second["uri"] and status["autoscaling"]["min"] == 0
    logs = stack.cli("-e", "multi", "logs", "--since", "10m")
    assert logs.exit_code == 0 and "model" in logs.stdout.lower()
    deleted = stack.cli("--json", "-e", "multi", "delete", "--yes")
    assert "endpoint/multi" in json.loads(deleted.stdout)["removed"]
    sagemaker = clients_for(stack).client("sagemaker")
    assert not [
        c
        for c in sagemaker.list_endpoint_configs()["EndpointConfigs"]
        if c["EndpointConfigName"].startswith("multi-")
    ]


def test_second_up_says_so_and_down_names_unfinished_jobs(tmp_path: Path, data_dir: Path) -> None:
    from tests.helpers.models import tiny_en_ctranslate2

    with running_stack(tmp_path / "own") as stack:
        again = stack.cli("local", "up", "--state-dir", str(stack.state_dir))
        assert again.exit_code == 2 and "already runs" in again.stderr
        assert stack.cli("push-model", str(tiny_en_ctranslate2())).exit_code == 0
        assert stack.cli("deploy", "--instance", "ml.g5.xlarge").exit_code == 0
        ids = [
            json.loads(
                stack.cli(
                    "--json", "transcribe", str(data_dir / "en_30s.wav"), "--rerun"
                ).stdout.splitlines()[0]
            )["id"]
            for _ in range(3)
        ]
        down = stack.cli(
            "--json", "local", "down", "--state-dir", str(stack.state_dir), "--grace", "0"
        )
        assert down.exit_code == 0, down.output
        unfinished = {
            job["inference_id"].split("-")[0] for job in json.loads(down.stdout)["unfinished"]
        }
        assert unfinished and unfinished <= set(ids)
        with pytest.raises(httpx.TransportError):
            httpx.get(stack.env["AWS_ENDPOINT_URL_SAGEMAKER"] + "/_wasync/status", timeout=2)
    _ = boto3


def test_transcribe_waits_on_sqs_notifications_instead_of_polling(
    local_stack, data_dir: Path, tmp_path: Path
) -> None:
    clients = clients_for(local_stack)
    queue_url = subscribed_queue(clients, "wasync-wait")
    result = local_stack.cli(
        "transcribe",
        str(data_dir / "en_numbers.wav"),
        str(data_dir / "corrupt.mp3"),
        "--wait",
        "--rerun",  # new jobs, so their notifications are what the wait sees
        "--notify-queue",
        queue_url,
        "-o",
        str(tmp_path),
    )
    assert result.exit_code == 1, result.output
    assert "tomorrow" in (tmp_path / "en_numbers.txt").read_text().lower()
    assert "corrupt.mp3: cannot decode" in result.stderr
    # No polling: per job one record PUT and one GET, plus the batch's heartbeat.
    requests = int(result.stderr.split(" S3 requests")[0].rsplit(" ", 1)[-1])
    assert requests <= 7


def test_invocation_timeout_ends_in_the_failure_location(local_stack, tmp_path: Path) -> None:
    from bench.corpus import build

    long_clip = build(tmp_path, long_repeats=3)[-1]  # 93 s of speech: seconds of work, over 1 s
    clients = clients_for(local_stack)
    s3, runtime = clients.client("s3"), clients.client("sagemaker-runtime")
    s3.upload_file(str(long_clip), BUCKET, "limits/long.wav")
    response = runtime.invoke_endpoint_async(
        EndpointName="whisper",
        InputLocation=f"s3://{BUCKET}/limits/long.wav",
        InvocationTimeoutSeconds=1,
    )
    failure = response["FailureLocation"].split("/", 3)[3]
    body = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not body:
        try:
            body = s3.get_object(Bucket=BUCKET, Key=failure)["Body"].read()
        except s3.exceptions.NoSuchKey:
            time.sleep(0.2)
    assert b"InvocationTimeoutSeconds (1s)" in body
