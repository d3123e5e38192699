"""Plans: every command that changes AWS plans by reading only.

Each plan is made twice. First against moto, recording every call: all must be reads. Then
again on fresh clients with botocore's Stubber holding exactly those read responses and
nothing else: a write call would find no response and fail. Then the changes themselves:
idempotent deploy, the bucket's lifecycle rule, a hand-made endpoint's variant name.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore import xform_name
from botocore.stub import Stubber
from typer.testing import CliRunner

from tests.helpers.models import checkpoint_file
from whisper_async import iam, scaling, storage
from whisper_async.cli.app import app
from whisper_async.clients import Clients
from whisper_async.endpoint import DeployRequest, deploy, plan_deploy
from whisper_async.errors import ConfigurationError
from whisper_async.models import push_model
from whisper_async.settings import resolve
from whisper_async.teardown import plan_delete

SERVICES = ("s3", "sts", "sns", "sagemaker", "application-autoscaling", "cloudwatch", "iam", "ecr")
READS = ("Describe", "List", "Get", "Head")
ROLE = "arn:aws:iam::123456789012:role/wasync-test"
IMAGE = "public.ecr.aws/example/wasync:test"


def request(**overrides: Any) -> DeployRequest:
    values: dict[str, Any] = {
        "instance_type": "ml.g4dn.xlarge",
        "image_uri": IMAGE,
        "role_arn": ROLE,
    }
    return DeployRequest(**{**values, **overrides})


@pytest.fixture
def model_uri(moto_clients: Clients, tmp_path: Path) -> str:
    checkpoint = tmp_path / "tiny.pt"
    checkpoint_file(checkpoint)
    return push_model(moto_clients, str(checkpoint)).uri


def record(clients: Clients) -> list[tuple[str, str, dict[str, Any], int]]:
    """Every call the clients make from now on: (service, operation, parsed response, status)."""
    calls: list[tuple[str, str, dict[str, Any], int]] = []
    for service in SERVICES:

        def after(
            http_response: Any, parsed: dict, model: Any, service: str = service, **_: Any
        ) -> None:
            calls.append((service, model.name, parsed, http_response.status_code))

        clients.client(service).meta.events.register("after-call", after)
    return calls


def _without_empty(value: Any) -> Any:
    """moto fills some optional structures with nulls that botocore's model would refuse."""
    if isinstance(value, dict):
        return {
            k: _without_empty(v)
            for k, v in value.items()
            if k != "ResponseMetadata" and v not in (None, {}) and _without_empty(v) != {}
        }
    if isinstance(value, list):
        return [_without_empty(v) for v in value]
    return value


def plans_by_reading_only(clients: Clients, make_plan: Callable[[Clients], Any]) -> Any:
    """Make the plan on moto (recording), check every call read, then make it again with a
    Stubber that holds only those read responses. Returns the second plan."""
    clients = Clients(clients.settings)  # nothing cached (the account id)
    calls = record(clients)
    make_plan(clients)
    assert calls, "the plan read nothing"
    writes = [(s, op) for s, op, _, _ in calls if not op.startswith(READS)]
    assert writes == []
    fresh = Clients(clients.settings)
    with ExitStack() as stack:
        stubs = {s: stack.enter_context(Stubber(fresh.client(s))) for s in SERVICES}
        for service, operation, parsed, status in calls:
            method = xform_name(operation)
            if status >= 300:
                error = parsed.get("Error", {})
                stubs[service].add_client_error(
                    method, error.get("Code", ""), error.get("Message", ""), status
                )
            else:
                response = _without_empty(parsed)
                for target in response.get("ScalableTargets", []):  # moto leaves it out
                    target.setdefault("RoleARN", "arn:aws:iam::123456789012:role/autoscaling")
                # botocore decodes IAM policy documents after parsing; the wire has text.
                for holder in (response, response.get("Role", {})):
                    for key in ("AssumeRolePolicyDocument", "PolicyDocument"):
                        if isinstance(holder.get(key), dict):
                            holder[key] = json.dumps(holder[key])
                stubs[service].add_response(method, response)
        plan = make_plan(fresh)
        for stub in stubs.values():
            stub.assert_no_pending_responses()
    return plan


def test_deploy_plan_reads_only_and_holds_the_bucket_and_topics_as_steps(
    moto_clients: Clients, model_uri: str
) -> None:
    # The model's bucket exists; deploy into a new one.
    settings = moto_clients.settings.with_values(bucket="wasync-fresh")
    clients = Clients(settings)
    plan = plans_by_reading_only(
        clients, lambda c: plan_deploy(c, request(model_uri=model_uri, notify=True))
    )
    assert [s.operation for s in plan.steps] == [
        "create_bucket",
        "put_public_access_block",
        "put_bucket_lifecycle_configuration",
        "create_topic",
        "create_topic",
        "create_model",
        "create_endpoint_config",
        "create_endpoint",
    ]
    assert [b["Name"] for b in clients.client("s3").list_buckets()["Buckets"]] == [
        "sagemaker-us-east-1-123456789012"
    ]
    assert clients.client("sns").list_topics()["Topics"] == []


def test_update_and_unchanged_deploy_plans_read_only(moto_clients: Clients, model_uri: str) -> None:
    deploy(moto_clients, plan_deploy(moto_clients, request()), sleep=lambda s: None)
    unchanged = plans_by_reading_only(moto_clients, lambda c: plan_deploy(c, request()))
    assert unchanged.action == "unchanged" and unchanged.steps == ()
    changed = plans_by_reading_only(
        moto_clients, lambda c: plan_deploy(c, request(instance_type="ml.g5.xlarge"))
    )
    assert changed.action == "update"
    assert changed.changes == ("instance_type: ml.g4dn.xlarge -> ml.g5.xlarge",)
    assert [s.operation for s in changed.steps] == [
        "create_model",
        "create_endpoint_config",
        "update_endpoint",
    ]


def test_autoscale_plans_read_only_and_name_the_exact_policies_and_alarm(
    moto_clients: Clients, model_uri: str
) -> None:
    deploy(moto_clients, plan_deploy(moto_clients, request()), sleep=lambda s: None)
    wanted = scaling.ScalingRequest(0, 3, 4.0)
    plan = plans_by_reading_only(moto_clients, lambda c: scaling.plan_configure(c, wanted))
    steps = {
        (s.operation, s.params.get("PolicyName") or s.params.get("AlarmName")): s
        for s in plan.steps
    }
    assert list(steps) == [
        ("register_scalable_target", None),
        ("put_scaling_policy", "wasync-whisper-backlog-per-instance"),
        ("put_scaling_policy", "wasync-whisper-scale-out-from-zero"),
        ("put_metric_alarm", "wasync-whisper-scale-out-from-zero"),
    ]
    alarm = steps[("put_metric_alarm", "wasync-whisper-scale-out-from-zero")].params
    assert alarm["MetricName"] == "HasBacklogWithoutCapacity"
    assert alarm["AlarmActions"] == [scaling.Output(2, "PolicyARN")]
    assert moto_clients.client("cloudwatch").describe_alarms()["MetricAlarms"] == []

    scaling.configure(moto_clients, 0, 3, 4.0)
    off = plans_by_reading_only(moto_clients, scaling.plan_disable)
    assert [s.operation for s in off.steps] == [
        "delete_scaling_policy",
        "delete_alarms",
        "delete_scaling_policy",
        "deregister_scalable_target",
    ]


def test_delete_plan_reads_only(moto_clients: Clients, model_uri: str) -> None:
    deploy(moto_clients, plan_deploy(moto_clients, request(notify=True)), sleep=lambda s: None)
    scaling.configure(moto_clients, 0, 2)
    s3 = moto_clients.client("s3")
    s3.put_object(Bucket=moto_clients.bucket, Key="wasync/outputs/whisper/a.out", Body=b"x")
    plan = plans_by_reading_only(moto_clients, lambda c: plan_delete(c, topics=True, purge=True))
    assert plan.purge_objects == 1
    assert {s.operation for s in plan.steps} == {
        "delete_scaling_policy",
        "delete_alarms",
        "deregister_scalable_target",
        "delete_endpoint",
        "delete_endpoint_config",
        "delete_model",
        "delete_topic",
        "delete_objects",
    }
    assert moto_clients.client("sagemaker").list_endpoints()["Endpoints"] != []


def test_iam_create_plans_read_only_and_is_empty_once_the_role_is_current(
    moto_clients: Clients,
) -> None:
    first = plans_by_reading_only(moto_clients, iam.plan_role)
    assert [s.operation for s in first.steps] == ["create_role", "put_role_policy"]
    iam.create_role(moto_clients)
    again = plans_by_reading_only(moto_clients, iam.plan_role)
    assert again.steps == ()


def test_the_bucket_wasync_creates_aborts_incomplete_uploads_under_its_prefix(
    moto_clients: Clients,
) -> None:
    bucket = storage.ensure_bucket(moto_clients)
    rules = moto_clients.client("s3").get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert rules == [
        {
            "ID": "wasync-abort-incomplete-multipart-uploads",
            "Status": "Enabled",
            "Filter": {"Prefix": "wasync/"},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
        }
    ]
    public = moto_clients.client("s3").get_public_access_block(Bucket=bucket)
    assert all(public["PublicAccessBlockConfiguration"].values())


def test_a_bucket_users_bring_keeps_its_own_lifecycle(moto_clients: Clients) -> None:
    s3 = moto_clients.client("s3")
    s3.create_bucket(Bucket=moto_clients.bucket)
    assert storage.bucket_plan(moto_clients).steps == ()


def test_a_default_bucket_another_account_owns_is_refused_before_anything_is_sent(
    moto_clients: Clients,
) -> None:
    """sagemaker-{region}-{account} can be created first by anyone; S3 answers HeadBucket with
    403 when ExpectedBucketOwner is not the owner (moto does not check it, so a Stubber does)."""
    fresh = Clients(moto_clients.settings)
    expected = {"Bucket": fresh.bucket, "ExpectedBucketOwner": fresh.account_id}
    with Stubber(fresh.client("s3")) as stub:
        stub.add_client_error("head_bucket", "403", "Forbidden", 403, expected_params=expected)
        with pytest.raises(ConfigurationError, match="does not own it") as raised:
            storage.bucket_plan(fresh)
        stub.assert_no_pending_responses()
    assert "--bucket" in (raised.value.hint or "")


def test_a_bucket_the_user_names_is_not_held_to_the_account(moto_clients: Clients) -> None:
    named = Clients(resolve({"bucket": "team-audio"}))
    with Stubber(named.client("s3")) as stub:
        stub.add_response("head_bucket", {}, expected_params={"Bucket": "team-audio"})
        assert storage.bucket_plan(named).steps == ()


def _cli(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args))


def test_deploy_rerun_with_nothing_changed_is_up_to_date_and_calls_no_update(
    moto_clients: Clients, model_uri: str
) -> None:
    """moto has no UpdateEndpoint: a second deploy that called it would fail."""
    args = ("deploy", "--role", ROLE, "--image-uri", IMAGE, "--instance", "ml.g4dn.xlarge")
    first = _cli("--json", *args, "--notify")
    assert first.exit_code == 0, first.output
    again = _cli(*args, "--notify")
    assert again.exit_code == 0, again.output
    assert "is up to date" in again.stdout
    dry = _cli(*args, "--notify", "--dry-run")
    assert "is up to date" in dry.stdout and "nothing to change" in dry.stdout
    configs = moto_clients.client("sagemaker").list_endpoint_configs()["EndpointConfigs"]
    assert [c["EndpointConfigName"] for c in configs] == [json.loads(first.stdout)["config_name"]]
    changed = _cli(*args, "--notify", "--max-concurrency", "2", "--dry-run")
    assert changed.exit_code == 0
    assert "max_concurrency: 1 -> 2" in changed.stdout and "update_endpoint" in changed.stdout


@pytest.fixture
def hand_made_endpoint(moto_clients: Clients, model_uri: str) -> str:
    """An endpoint made with plain boto3, as the SageMaker SDK article does: variant1."""
    sagemaker = boto3.client("sagemaker", region_name="us-east-1")
    sagemaker.create_model(
        ModelName="article-model",
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": model_uri},
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName="article-config",
        ProductionVariants=[
            {
                "VariantName": "variant1",
                "ModelName": "article-model",
                "InstanceType": "ml.g4dn.xlarge",
                "InitialInstanceCount": 1,
            }
        ],
        AsyncInferenceConfig={"OutputConfig": {"S3OutputPath": "s3://article/out/"}},
    )
    sagemaker.create_endpoint(EndpointName="article", EndpointConfigName="article-config")
    return "article"


def test_status_shows_the_autoscaling_of_a_variant_not_named_alltraffic(
    moto_clients: Clients, hand_made_endpoint: str
) -> None:
    autoscaling = boto3.client("application-autoscaling", region_name="us-east-1")
    autoscaling.register_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId="endpoint/article/variant/variant1",
        ScalableDimension="sagemaker:variant:DesiredInstanceCount",
        MinCapacity=1,
        MaxCapacity=3,
    )
    result = _cli("--json", "status", "-e", hand_made_endpoint)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["variant"] == "variant1"
    assert report["autoscaling"]["min_capacity"] == 1 and report["autoscaling"]["max_capacity"] == 3


def test_autoscale_registers_the_endpoints_real_variant(
    moto_clients: Clients, hand_made_endpoint: str
) -> None:
    result = _cli("autoscale", "-e", hand_made_endpoint, "--min", "0", "--max", "2")
    assert result.exit_code == 0, result.output
    targets = boto3.client(
        "application-autoscaling", region_name="us-east-1"
    ).describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert [t["ResourceId"] for t in targets] == ["endpoint/article/variant/variant1"]
    off = _cli("--json", "autoscale", "--off", "-e", hand_made_endpoint)
    assert (
        json.loads(off.stdout)["removed"][-1] == "scalable-target/endpoint/article/variant/variant1"
    )


def _dry_run_test_env(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    from whisper_async.settings import SERVICE_ENV_NAMES

    for name in SERVICE_ENV_NAMES.values():
        monkeypatch.setenv(f"WASYNC_ENDPOINT_URL_{name}", url)


@pytest.fixture
def moto_server(aws_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    _dry_run_test_env(monkeypatch, url)
    try:
        yield url
    finally:
        server.stop()


def _inventory(url: str) -> dict[str, Any]:
    def client(service: str) -> Any:
        return boto3.client(service, region_name="us-east-1", endpoint_url=url)

    s3 = client("s3")
    return {
        "buckets": sorted(b["Name"] for b in s3.list_buckets()["Buckets"]),
        "lifecycle": [
            s3.get_bucket_lifecycle_configuration(Bucket=b["Name"])["Rules"]
            for b in s3.list_buckets()["Buckets"]
            if b["Name"] == "wasync-fresh"
        ],
        "topics": sorted(t["TopicArn"] for t in client("sns").list_topics()["Topics"]),
        "models": sorted(m["ModelName"] for m in client("sagemaker").list_models()["Models"]),
        "configs": sorted(
            c["EndpointConfigName"]
            for c in client("sagemaker").list_endpoint_configs()["EndpointConfigs"]
        ),
        "endpoints": sorted(
            e["EndpointName"] for e in client("sagemaker").list_endpoints()["Endpoints"]
        ),
    }


def test_deploy_dry_run_changes_nothing_on_a_moto_server(moto_server: str, tmp_path: Path) -> None:
    checkpoint = tmp_path / "tiny.pt"
    checkpoint_file(checkpoint)
    pushed = _cli("--json", "push-model", str(checkpoint))
    assert pushed.exit_code == 0, pushed.output
    before = _inventory(moto_server)
    args = (
        "deploy", "--notify", "--bucket", "wasync-fresh", "--role", ROLE, "--image-uri", IMAGE,
        "--instance", "ml.g4dn.xlarge", "--model", json.loads(pushed.stdout)["uri"],
    )  # fmt: skip
    dry = _cli(*args, "--dry-run")
    assert dry.exit_code == 0, dry.output
    for expected in (
        "create bucket wasync-fresh",
        "create SNS topic wasync-whisper-success",
        "s3.put_bucket_lifecycle_configuration",
        "sagemaker.create_endpoint(",
    ):
        assert expected in dry.stdout
    assert _inventory(moto_server) == before
    real = _cli(*args)
    assert real.exit_code == 0, real.output
    after = _inventory(moto_server)
    assert after["buckets"] == sorted([*before["buckets"], "wasync-fresh"])
    assert after["lifecycle"][0][0]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    assert len(after["topics"]) == 2 and after["endpoints"] == ["whisper"]
