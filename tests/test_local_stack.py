"""The local stack as SageMaker: wire protocols, lifecycle, faults and notifications."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import boto3
import httpx
import pytest

from tests.helpers.archives import gzip_tar
from tests.helpers.stack import running_stack
from tests.helpers.waiting import wait_until
from whisper_async.clients import Clients
from whisper_async.settings import resolve

pytestmark = pytest.mark.slow
BUCKET = "sagemaker-us-east-1-123456789012"


def clients_for(stack) -> Clients:  # type: ignore[no-untyped-def]
    return Clients(resolve({}, stack.env))


def upload_tarball(
    stack, key: str, members: dict[str, bytes], link: tuple[str, str] | None = None
) -> str:  # type: ignore[no-untyped-def]
    clients_for(stack).client("s3").put_object(Bucket=BUCKET, Key=key, Body=gzip_tar(members, link))
    return f"s3://{BUCKET}/{key}"


def subscribed_queue(clients: Clients, name: str, endpoint: str) -> str:
    """An SQS queue subscribed to one endpoint's success and error topics."""
    sqs, sns = clients.client("sqs"), clients.client("sns")
    queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    topics = {f"wasync-{endpoint}-success", f"wasync-{endpoint}-error"}
    for topic in sns.list_topics()["Topics"]:
        if topic["TopicArn"].split(":")[-1] in topics:
            sns.subscribe(
                TopicArn=topic["TopicArn"],
                Protocol="sqs",
                Endpoint=attributes["Attributes"]["QueueArn"],
            )
    return str(queue_url)


def test_aws_cli_invokes_and_copies_a_transcript(
    local_stack, own_endpoint: str, data_dir: Path, tmp_path: Path
) -> None:
    env = {**os.environ, **local_stack.env}
    beside = Path(sys.executable).with_name("aws")  # awscli from the test extras, in this venv
    aws = [str(beside) if beside.exists() else (shutil.which("aws") or "aws")]
    # botocore sends the InputLocation header as UTF-8; read as latin-1, this key was not found.
    source = f"s3://{BUCKET}/cli/my talk \u00e9.wav"
    subprocess.run(
        [*aws, "s3", "cp", str(data_dir / "en_short.wav"), source],
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
            own_endpoint,
            "--input-location",
            source,
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
    wait_until(
        lambda: (
            subprocess.run(
                [*aws, "s3", "cp", output, str(tmp_path / "out.txt")], env=env, capture_output=True
            ).returncode
            == 0
        ),
        "the transcript in S3",
    )
    assert "lazy dog" in (tmp_path / "out.txt").read_text().lower()


def test_emulator_validates_like_aws(local_stack) -> None:
    """wasync's clients raise its own errors (aws.py), carrying AWS's code and message."""
    from whisper_async.errors import AwsError, NotFoundError

    runtime = clients_for(local_stack).client("sagemaker-runtime")
    with pytest.raises(AwsError) as info:
        runtime.invoke_endpoint_async(
            EndpointName="whisper", InputLocation=f"s3://{BUCKET}/x", Filename="a.b.c"
        )
    assert "Filename" in str(info.value) and info.value.code == "ValidationError"
    assert not isinstance(info.value, NotFoundError)
    sagemaker = clients_for(local_stack).client("sagemaker")
    with pytest.raises(NotFoundError) as missing:
        sagemaker.describe_endpoint(EndpointName="never-made")
    assert missing.value.code == "ValidationException"
    assert 'Could not find endpoint "never-made"' in str(missing.value)


@pytest.mark.parametrize(
    ("path", "headers", "body", "code"),
    [
        (
            "/",
            {"X-Amz-Target": "SageMaker.ListEndpoints"},
            b"[" * 100_000 + b"]" * 100_000,
            "ValidationException",
        ),
        (
            "/endpoints/whisper/async-invocations",
            {"X-Amzn-SageMaker-RequestTTLSeconds": "9" * 5_000},
            b"x",
            "ValidationError",
        ),
        (
            "/endpoints/whisper/async-invocations",
            {"X-Amzn-SageMaker-RequestTTLSeconds": "60\u00b2".encode("latin-1")},
            b"x",
            "ValidationError",
        ),
        (
            "/",
            {"X-Amz-Target": "SageMaker.ListEndpoints"},
            b'{"CreationTimeAfter": 1e308}',  # botocore's timestamp check raises RuntimeError
            "ValidationException",
        ),
        (
            "/endpoints/whisper/async-invocations",
            {},
            b"x" * 128_001,  # InvokeEndpointAsync's Body is at most 128,000 bytes
            "ValidationError",
        ),
        (
            "/",
            {"X-Amz-Target": "SageMaker.ListEndpoints"},
            b" " * (2 << 20),
            "ValidationException",
        ),
    ],
    ids=[
        "nested-json",
        "5000-digits",
        "superscript-digit",
        "timestamp-out-of-range",
        "body-over-128000",
        "control-call-over-1-mib",
    ],
)
def test_malformed_requests_get_aws_errors_not_a_500(  # type: ignore[no-untyped-def]
    local_stack, path: str, headers: dict[str, str | bytes], body: bytes, code: str
) -> None:
    import httpx

    url = local_stack.env["AWS_ENDPOINT_URL_SAGEMAKER"] + path
    answer = httpx.post(url, content=body, headers=headers, timeout=60)
    assert answer.status_code == 400, answer.text
    assert answer.headers["x-amzn-errortype"] == code and answer.json()["message"]


def test_variables_exported_for_an_earlier_stack_are_named_with_the_fix(local_stack) -> None:
    """After `local down` and `local up` the stack has new ports: wasync follows stack.json, the
    AWS CLI follows the variables, so wasync says that they are stale."""
    from typer.testing import CliRunner

    from whisper_async.cli.app import app

    current = CliRunner().invoke(app, ["status"], env=local_stack.env)
    assert current.exit_code == 0 and "warning" not in current.stderr, current.output
    earlier = {**local_stack.env, "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:1"}
    stale = CliRunner().invoke(app, ["status"], env=earlier)
    assert stale.exit_code == 0, stale.output  # wasync itself still reaches the running stack
    assert "AWS_ENDPOINT_URL_S3 points at another stack" in stale.stderr
    assert 'eval "$(wasync local env)"' in stale.stderr


def test_web_pages_and_moto_admin_calls_are_refused(local_stack) -> None:
    """A page in a browser could otherwise wipe the stack (moto answers any Origin) or write
    into the daemon's folder through moto's recorder."""
    import httpx

    moto = local_stack.env["AWS_ENDPOINT_URL_S3"]
    page = {"Origin": "https://evil.example", "Content-Type": "text/plain"}
    for method, path in (("POST", "/moto-api/reset"), ("GET", f"/{BUCKET}")):
        answer = httpx.request(method, moto + path, headers=page, timeout=30)
        assert answer.status_code == 403 and "access-control-allow-origin" not in answer.headers
    recorder = httpx.post(moto + "/moto-api/recorder/upload-recording", content=b"x", timeout=30)
    assert recorder.status_code == 403
    assert httpx.get(moto + "/moto-api/", timeout=30).status_code == 200  # the stack's probe
    emulator = local_stack.env["AWS_ENDPOINT_URL_SAGEMAKER"]
    for path in ("/endpoints/whisper/async-invocations", "/"):  # queue a body; the control API
        answer = httpx.post(emulator + path, headers=page, content=b"hello", timeout=30)
        assert answer.status_code == 403 and "web pages" in answer.text
    assert clients_for(local_stack).client("s3").head_bucket(Bucket=BUCKET)  # nothing wiped


def test_a_page_under_a_name_of_its_own_pointed_here_is_refused(local_stack) -> None:
    """DNS rebinding: a page's own name resolved to 127.0.0.1 makes its GETs same-origin (no
    Origin header), and moto takes the bucket from the name's first label."""
    import httpx

    moto = local_stack.env["AWS_ENDPOINT_URL_S3"]
    emulator = local_stack.env["AWS_ENDPOINT_URL_SAGEMAKER"]
    port = moto.rsplit(":", 1)[1]
    rebound = {"Host": f"{BUCKET}.evil.example:{port}"}
    listing = httpx.get(moto + "/?list-type=2&prefix=wasync/", headers=rebound, timeout=30)
    assert listing.status_code == 403 and "wasync/" not in listing.text
    status = httpx.get(emulator + "/_wasync/status", headers={"Host": "evil.example"}, timeout=30)
    assert status.status_code == 403 and "127.0.0.1 or localhost" in status.text
    for host in (f"localhost:{port}", f"[::1]:{port}", f"{BUCKET}.localhost:{port}"):
        assert httpx.get(moto + "/moto-api/", headers={"Host": host}, timeout=30).status_code == 200
    assert httpx.get(emulator + "/_wasync/status", timeout=30).status_code == 200


def test_notifications_one_per_job_with_the_right_status(
    local_stack, own_endpoint: str, data_dir: Path
) -> None:
    clients = clients_for(local_stack)
    sqs = clients.client("sqs")
    queue_url = subscribed_queue(clients, f"notes-{own_endpoint}", own_endpoint)
    good = json.loads(
        local_stack.cli(
            "--json", "-e", own_endpoint, "transcribe", str(data_dir / "en_short.wav"), "--wait"
        ).stdout.splitlines()[0]  # the job's line; the summary follows
    )
    bad = json.loads(
        local_stack.cli(
            "--json", "-e", own_endpoint, "transcribe", str(data_dir / "corrupt.mp3"), "--wait"
        ).stdout.splitlines()[0]
    )
    messages: list[dict] = []

    def received_two() -> bool:
        for message in sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        ).get("Messages", []):
            messages.append(json.loads(json.loads(message["Body"])["Message"]))
        return len(messages) >= 2

    wait_until(received_two, "both notifications")
    by_id = {m["inferenceId"].split("-")[0]: m for m in messages}  # job id, then the run
    assert len(messages) == 2 and set(by_id) == {good["id"], bad["id"]}
    assert by_id[good["id"]]["invocationStatus"] == "Completed"
    assert by_id[good["id"]]["responseParameters"]["outputLocation"].endswith(".out")
    assert by_id[bad["id"]]["invocationStatus"] == "Failed"
    assert "decode" in by_id[bad["id"]]["failureReason"]
    assert by_id[bad["id"]]["requestParameters"]["endpointName"] == own_endpoint


def test_killing_the_container_mid_job_fails_that_job_and_later_jobs_succeed(
    local_stack, own_endpoint: str, data_dir: Path, tmp_path: Path
) -> None:
    from bench.corpus import build

    def endpoint() -> dict:
        status = local_stack.cli(
            "--json", "local", "status", "--state-dir", str(local_stack.state_dir)
        )
        return next(e for e in json.loads(status.stdout)["endpoints"] if e["name"] == own_endpoint)

    # A job done first: the container's request log then names another job's InferenceId.
    earlier = local_stack.cli(
        "-e", own_endpoint, "transcribe", str(data_dir / "en_short.wav"), "--wait"
    )
    assert earlier.exit_code == 0, earlier.output
    long_clip = build(tmp_path, long_repeats=3)[-1]  # seconds of work: still running at the kill
    submitted = json.loads(
        local_stack.cli(
            "--json", "-e", own_endpoint, "transcribe", str(long_clip)
        ).stdout.splitlines()[0]
    )
    # Running: a worker has taken the job to this container, so the kill ends this job.
    running = wait_until(lambda: endpoint()["running"] and endpoint(), "the job running")
    os.kill(running["pid"], signal.SIGKILL)
    fetched = local_stack.cli("-e", own_endpoint, "fetch", submitted["id"], "--wait")
    assert fetched.exit_code == 1
    assert "container exited" in fetched.stderr
    assert "InferenceId" not in fetched.stderr  # the request log names other jobs
    later = local_stack.cli(
        "-e", own_endpoint, "transcribe", str(data_dir / "en_short.wav"), "--wait"
    )
    assert later.exit_code == 0 and "lazy dog" in later.stdout.lower()
    assert endpoint()["restarts"] >= 1


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
    assert "Started server process" not in result.stderr  # uvicorn's lines tell nothing
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

    before = model_folders(stack)
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
    [first_model] = model_folders(stack) - before
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
    wait_until(lambda: first_model not in model_folders(stack), "the superseded model to go")
    [second_model] = model_folders(stack) - before
    status = json.loads(stack.cli("--json", "-e", "multi", "status").stdout)
    assert status["model_data"] == second["uri"] and status["autoscaling"]["min_capacity"] == 0
    logs = stack.cli("-e", "multi", "logs", "--since", "10m")
    assert logs.exit_code == 0 and "model" in logs.stdout.lower()
    deleted = stack.cli("--json", "-e", "multi", "delete", "--yes")
    assert "endpoint/multi" in json.loads(deleted.stdout)["removed"]
    wait_until(lambda: second_model not in model_folders(stack), "the deleted endpoint's model")
    sagemaker = clients_for(stack).client("sagemaker")
    assert not [
        c
        for c in sagemaker.list_endpoint_configs()["EndpointConfigs"]
        if c["EndpointConfigName"].startswith("multi-")
    ]


def test_a_deploy_after_one_without_waiting_waits_for_it_then_applies(local_stack) -> None:
    """SageMaker refuses an update while the endpoint is Creating or Updating: the second
    deploy waits for the first, instead of failing on what it did not start."""
    name = "waitsfirst"
    try:
        first = local_stack.cli("--json", "-e", name, "deploy", "--no-wait")
        assert first.exit_code == 0, first.output
        assert json.loads(first.stdout)["status"] in {"Creating", "InService"}  # SageMaker's
        second = local_stack.cli("-e", name, "deploy", "--max-concurrency", "2")
        assert second.exit_code == 0, second.output
        status = json.loads(local_stack.cli("--json", "-e", name, "status").stdout)
        assert (status["status"], status["max_concurrency"]) == ("InService", 2)
    finally:
        local_stack.cli("-e", name, "delete", "--yes")


def repeated_wav(source: Path, times: int, target: Path) -> Path:
    import wave

    with wave.open(str(source), "rb") as reading:
        params, frames = reading.getparams(), reading.readframes(reading.getnframes())
    with wave.open(str(target), "wb") as writing:
        writing.setparams(params)
        writing.writeframes(frames * times)
    return target


def test_second_up_says_so_and_down_names_unfinished_jobs(tmp_path: Path, data_dir: Path) -> None:
    from tests.helpers.models import tiny_en_ctranslate2

    with running_stack(tmp_path / "own") as stack:
        again = stack.cli("local", "up", "--state-dir", str(stack.state_dir))
        assert again.exit_code == 2 and "already runs" in again.stderr
        empty = stack.cli("local", "status", "--state-dir", str(stack.state_dir))
        assert empty.exit_code == 0 and "no endpoints yet" in empty.stdout
        assert stack.cli("push-model", str(tiny_en_ctranslate2())).exit_code == 0
        assert stack.cli("deploy", "--instance", "ml.g5.xlarge").exit_code == 0
        # 5 minutes a job: still running when `down` comes, however fast the CPU (30 s clips
        # all finished first on a CPU whose encoder is quick)
        for name in ("gone1", "gone2", "gone3"):  # deleted while their containers start
            assert stack.cli("-e", name, "deploy", "--no-wait").exit_code == 0
            assert stack.cli("-e", name, "delete", "--yes").exit_code == 0
        long = repeated_wav(data_dir / "en_30s.wav", 10, tmp_path / "en_5min.wav")
        ids = [
            json.loads(
                stack.cli("--json", "transcribe", str(long), "--rerun").stdout.splitlines()[0]
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
        # nothing it started outlives it: a container starting when its endpoint was deleted
        # was left running once the stack's process (whose threads stop it) had exited
        assert serving_processes_of(stack.state_dir) == []
    _ = boto3


def serving_processes_of(state_dir: Path) -> list[str]:
    """The serving processes (and their decoders) started for this stack's models, still
    running: each has the stack's folder in its environment."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            command = (proc / "cmdline").read_bytes()
            environment = (proc / "environ").read_bytes()
        except OSError:  # gone, or not a process
            continue
        if b"whisper_async.serving" in command and str(state_dir).encode() in environment:
            shown = command.replace(b"\0", b" ").decode(errors="replace")
            found.append(f"{proc.name}: {shown}")
    return found


def test_transcribe_waits_on_sqs_notifications_instead_of_polling(
    local_stack, own_endpoint: str, data_dir: Path, tmp_path: Path
) -> None:
    clients = clients_for(local_stack)
    queue_url = subscribed_queue(clients, f"wait-{own_endpoint}", own_endpoint)
    result = local_stack.cli(
        "-e",
        own_endpoint,
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


def test_invocation_timeout_ends_in_the_failure_location(
    local_stack, own_endpoint: str, tmp_path: Path
) -> None:
    from bench.corpus import build
    from whisper_async.errors import NotFoundError

    long_clip = build(tmp_path, long_repeats=3)[-1]  # 93 s of speech: seconds of work, over 1 s
    clients = clients_for(local_stack)
    s3, runtime = clients.client("s3"), clients.client("sagemaker-runtime")
    s3.upload_file(str(long_clip), BUCKET, "limits/long.wav")
    response = runtime.invoke_endpoint_async(
        EndpointName=own_endpoint,
        InputLocation=f"s3://{BUCKET}/limits/long.wav",
        InvocationTimeoutSeconds=1,
    )
    failure = response["FailureLocation"].split("/", 3)[3]

    def failure_body() -> bytes:
        try:
            return bytes(s3.get_object(Bucket=BUCKET, Key=failure)["Body"].read())
        except NotFoundError:
            return b""

    body = wait_until(failure_body, "the failure object")
    assert b"InvocationTimeoutSeconds (1s)" in body


def tiny_model_uri(stack) -> str:  # type: ignore[no-untyped-def]
    """The tiny.en model the session pushed (pushing again finds it and uploads nothing)."""
    from tests.helpers.models import tiny_en_ctranslate2

    pushed = stack.cli("--json", "push-model", str(tiny_en_ctranslate2()), "--name", "tiny.en")
    return str(json.loads(pushed.stdout)["uri"])


def async_config(bucket: str = BUCKET) -> dict:
    return {"OutputConfig": {"S3OutputPath": f"s3://{bucket}/attack-out/"}}


def model_folders(stack) -> set[Path]:  # type: ignore[no-untyped-def]
    root = stack.state_dir / "models"
    return set(root.iterdir()) if root.exists() else set()


def test_names_that_are_paths_are_refused_and_nothing_is_written_outside(
    local_stack, tmp_path: Path
) -> None:
    from whisper_async.errors import AwsError

    sagemaker = clients_for(local_stack).client("sagemaker")
    outside = Path(tempfile.mkdtemp(prefix="w", dir="/tmp"))  # short: names have 63 characters
    escape = local_stack.state_dir.parent / f"escape-{outside.name}"
    role = "arn:aws:iam::123456789012:role/wasync"
    model = "names-" + "".join(
        c if c.isalnum() else "x" for c in outside.name.lower()
    )  # mkdtemp may use "_"
    container = {"Image": "local", "ModelDataUrl": tiny_model_uri(local_stack)}
    sagemaker.create_model(ModelName=model, PrimaryContainer=container, ExecutionRoleArn=role)
    variants = [{"VariantName": "AllTraffic", "ModelName": model, "InstanceType": "ml.g5.xlarge"}]
    try:
        attacks = [
            lambda: sagemaker.create_endpoint_config(
                EndpointConfigName=f"{outside}/cfg",
                ProductionVariants=variants,
                AsyncInferenceConfig=async_config(),
            ),
            lambda: sagemaker.create_model(
                ModelName="../m", PrimaryContainer=container, ExecutionRoleArn=role
            ),
        ]
        sagemaker.create_endpoint_config(
            EndpointConfigName=model,
            ProductionVariants=variants,
            AsyncInferenceConfig=async_config(),
        )
        attacks += [
            lambda: sagemaker.create_endpoint(
                EndpointName=f"a/../../../{escape.name}", EndpointConfigName=model
            ),
            lambda: sagemaker.create_endpoint(
                EndpointName="../../../../tmp/x/epname", EndpointConfigName=model
            ),
        ]
        for attack in attacks:
            with pytest.raises(AwsError) as refused:
                attack()
            assert refused.value.code == "ValidationException"
            assert "failed to satisfy constraint" in str(refused.value)
        assert list(outside.iterdir()) == []
        assert not escape.exists()
        assert not [e for e in sagemaker.list_endpoints()["Endpoints"] if "/" in e["EndpointName"]]
    finally:
        shutil.rmtree(outside, ignore_errors=True)
        sagemaker.delete_endpoint_config(EndpointConfigName=model)
        sagemaker.delete_model(ModelName=model)


def test_a_models_environment_cannot_run_code_as_the_stacks_user(
    local_stack, tmp_path: Path
) -> None:
    from tests.helpers.models import tiny_en_ctranslate2

    marker = tmp_path / "marker"
    code = f"open({str(marker)!r}, 'w').write('ran')\n"
    planted = tmp_path / "planted"  # a folder the attacker knows the path of
    planted.mkdir()
    (planted / "sitecustomize.py").write_text(code)
    model_dir = tmp_path / "model"
    shutil.copytree(tiny_en_ctranslate2(), model_dir)
    (model_dir / "sitecustomize.py").write_text(code)  # and one in model.tar.gz itself
    pushed = local_stack.cli("--json", "push-model", str(model_dir), "--name", "planted")
    assert pushed.exit_code == 0, pushed.output
    name = f"env{os.getpid()}"
    # Where the stack used to extract models, and the attacker's own folder.
    old_layout = local_stack.state_dir / "endpoints" / name / name / "model"
    environment = {
        "PYTHONPATH": f"{old_layout}{os.pathsep}{planted}",
        "LD_PRELOAD": str(planted / "x.so"),
        "WASYNC_LOG_LEVEL": "INFO",
    }
    sagemaker = clients_for(local_stack).client("sagemaker")
    container = {
        "Image": "local",
        "ModelDataUrl": json.loads(pushed.stdout)["uri"],
        "Environment": environment,
    }
    sagemaker.create_model(
        ModelName=name,
        PrimaryContainer=container,
        ExecutionRoleArn="arn:aws:iam::123456789012:role/wasync",
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": name, "InstanceType": "ml.g5.xlarge"}
        ],
        AsyncInferenceConfig=async_config(),
    )
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
    try:
        state = wait_until(
            lambda: (
                sagemaker.describe_endpoint(EndpointName=name)["EndpointStatus"]
                in {"InService", "Failed"}
                and sagemaker.describe_endpoint(EndpointName=name)
            ),
            "the endpoint to start",
        )
        assert state["EndpointStatus"] == "InService", state.get("FailureReason")
        assert not marker.exists()
        wait_until(
            lambda: (
                "ignored LD_PRELOAD, PYTHONPATH"
                in local_stack.cli("-e", name, "logs", "--since", "1h").stdout
            ),
            "the stack to say which variables it ignored",
        )
    finally:
        sagemaker.delete_endpoint(EndpointName=name)
        sagemaker.delete_endpoint_config(EndpointConfigName=name)
        sagemaker.delete_model(ModelName=name)


def test_a_model_that_expands_past_the_cap_fails_the_endpoint_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WASYNC_LOCAL_MAX_MODEL_SIZE", "1MiB")
    with running_stack(tmp_path / "capped") as stack:
        clients_for(stack).client("s3").create_bucket(Bucket=BUCKET)
        uri = upload_tarball(
            stack, "bomb/model.tar.gz", {"model.bin": bytes(2 * 1024 * 1024), "config.json": b"{}"}
        )
        result = stack.cli("-e", "bomb", "deploy", "--model", uri, "--instance", "ml.g5.xlarge")
        assert result.exit_code == 1
        assert "expands to more than 1.0 MiB" in result.stderr
        assert "WASYNC_LOCAL_MAX_MODEL_SIZE" in result.stderr
        assert model_folders(stack) == set()


def test_a_limit_set_with_env_reaches_the_container(local_stack, data_dir: Path) -> None:
    """The 413 hint named WASYNC_MAX_AUDIO_SECONDS, which deploy had no way to set."""
    with local_stack.own_endpoint("--env", "WASYNC_MAX_AUDIO_SECONDS=5") as name:
        result = local_stack.cli("-e", name, "transcribe", str(data_dir / "en_30s.wav"), "--wait")
        assert result.exit_code == 1, result.output
        assert "this endpoint accepts at most 0:00:05 (WASYNC_MAX_AUDIO_SECONDS=5)" in result.stderr
        assert "wasync deploy --env WASYNC_MAX_AUDIO_SECONDS=N" in result.stderr


def test_a_remembered_model_this_stack_lacks_is_named_with_why(local_stack) -> None:  # type: ignore[no-untyped-def]
    """After `local down` and `local up`, deploy took the last model pushed to the stack
    before, and said only that it did not exist."""
    from whisper_async import state
    from whisper_async.clients import Clients
    from whisper_async.settings import resolve

    settings = Clients(resolve({}, local_stack.env)).settings
    region = str(settings.region)
    before = state.recall(settings, region, "model_uri")
    gone = "s3://sagemaker-us-east-1-123456789012/wasync/models/earlier-stack/model.tar.gz"
    state.remember(settings, region, "model_uri", gone)
    try:
        result = local_stack.cli("-e", "listing-gone", "deploy")
    finally:
        if before:
            state.remember(settings, region, "model_uri", before)
    assert result.exit_code == 1
    assert f"The last model pushed, {gone}, is not in this local stack" in result.stderr
    assert "push-model" in result.stderr
