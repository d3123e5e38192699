"""Scale to zero, proven on the local stack: `wasync autoscale` configures Application Auto
Scaling and CloudWatch, and the stack's scaler acts on that configuration as AWS does.

The stack runs at --time-scale 60 (one AWS minute per second), so the 15-minute scale-in
alarm takes 15 seconds; containers, model loading and transcription take their real time.
Every test waits for states (instance counts, activities, results), never for seconds.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import models
from tests.helpers.stack import RunningStack, running_stack
from tests.helpers.waiting import wait_until
from whisper_async.clients import Clients
from whisper_async.errors import NotFoundError
from whisper_async.settings import resolve

pytestmark = pytest.mark.slow
BUCKET = "sagemaker-us-east-1-123456789012"
TIME_SCALE = 60


@pytest.fixture(scope="module")
def fast_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    with running_stack(tmp_path_factory.mktemp("scaling"), time_scale=TIME_SCALE) as stack:
        pushed = stack.cli("push-model", str(models.tiny_en_ctranslate2()), "--name", "tiny.en")
        assert pushed.exit_code == 0, pushed.output
        yield stack


@pytest.fixture
def aws(fast_stack: RunningStack) -> Clients:
    return Clients(resolve({}, fast_stack.env))


@pytest.fixture
def endpoint(fast_stack: RunningStack) -> Iterator[str]:
    """An endpoint of its own for each test: tiny.en, one job at a time per instance."""
    with fast_stack.own_endpoint("--instance", "ml.g5.xlarge", "--max-concurrency", "1") as name:
        yield name


def counts(aws: Clients, endpoint: str) -> tuple[str, int, int]:
    """(status, current, desired) as DescribeEndpoint shows them."""
    described = aws.client("sagemaker").describe_endpoint(EndpointName=endpoint)
    variant = described["ProductionVariants"][0]
    return (
        described["EndpointStatus"],
        variant["CurrentInstanceCount"],
        variant["DesiredInstanceCount"],
    )


def activities(aws: Clients, endpoint: str) -> list[dict[str, Any]]:
    """Newest first, as `aws application-autoscaling describe-scaling-activities` lists them."""
    return list(
        aws.client("application-autoscaling").describe_scaling_activities(
            ServiceNamespace="sagemaker", ResourceId=f"endpoint/{endpoint}/variant/AllTraffic"
        )["ScalingActivities"]
    )


def scale_ins(aws: Clients, endpoint: str) -> int:
    """How many times autoscaling has set the endpoint to 0 instances."""
    return sum(
        a["Description"] == "Setting desired instance count to 0."
        for a in activities(aws, endpoint)
    )


def autoscale(stack: RunningStack, endpoint: str, *args: str) -> None:
    result = stack.cli("-e", endpoint, "autoscale", "--min", "0", *args)
    assert result.exit_code == 0, result.output


def settled(aws: Clients, endpoint: str) -> bool:
    """No scaling activity in progress (the scaler settles one at the minute after the
    endpoint finished resizing)."""
    return all(a["StatusCode"] != "InProgress" for a in activities(aws, endpoint))


def scaled_to_zero(aws: Clients, endpoint: str) -> None:
    wait_until(
        lambda: counts(aws, endpoint) == ("InService", 0, 0) and settled(aws, endpoint),
        f"{endpoint} at zero instances, its scaling activity settled",
    )


def from_zero_alarm(aws: Clients, endpoint: str) -> dict[str, Any]:
    """The alarm `autoscale` made on HasBacklogWithoutCapacity for this endpoint."""
    return next(
        a
        for a in aws.client("cloudwatch").describe_alarms()["MetricAlarms"]
        if a.get("MetricName") == "HasBacklogWithoutCapacity"
        and {"Name": "EndpointName", "Value": endpoint} in a.get("Dimensions", [])
    )


def break_from_zero_alarm(aws: Clients, endpoint: str) -> None:
    """A wrong setting: a threshold the metric (0 or 1) never reaches."""
    alarm = from_zero_alarm(aws, endpoint)
    keys = [
        "AlarmName",
        "Namespace",
        "MetricName",
        "Dimensions",
        "Statistic",
        "Period",
        "EvaluationPeriods",
        "DatapointsToAlarm",
        "ComparisonOperator",
        "TreatMissingData",
        "AlarmActions",
    ]
    aws.client("cloudwatch").put_metric_alarm(
        **{k: alarm[k] for k in keys if k in alarm}, Threshold=2.0
    )


def stuck_at_zero(stack: RunningStack, aws: Clients, endpoint: str) -> None:
    """Autoscaled with a from-zero alarm that never fires, and at zero instances."""
    autoscale(stack, endpoint, "--max", "1")
    break_from_zero_alarm(aws, endpoint)
    scaled_to_zero(aws, endpoint)


def invoke(aws: Clients, endpoint: str, audio: Path, **params: Any) -> dict[str, str]:
    key = f"scaling-tests/{uuid.uuid4().hex}{audio.suffix}"
    aws.client("s3").upload_file(str(audio), BUCKET, key)
    return dict(
        aws.client("sagemaker-runtime").invoke_endpoint_async(
            EndpointName=endpoint, InputLocation=f"s3://{BUCKET}/{key}", **params
        )
    )


def outcome(aws: Clients, job: dict[str, str]) -> tuple[str, bytes] | None:
    s3 = aws.client("s3")
    for kind, location in (("output", job["OutputLocation"]), ("failure", job["FailureLocation"])):
        bucket, key = location.removeprefix("s3://").split("/", 1)
        try:
            return kind, s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except NotFoundError:  # wasync's clients raise its own errors (aws.py)
            continue
    return None


def waited(aws: Clients, job: dict[str, str]) -> tuple[str, bytes]:
    return wait_until(lambda: outcome(aws, job), f"the outcome of {job['InferenceId']}")


def queued(stack: RunningStack, endpoint: str) -> int:
    return int(stack.endpoints()[endpoint]["queued"])


def test_an_idle_endpoint_scales_in_to_zero_and_stops_its_container(
    fast_stack: RunningStack, aws: Clients, endpoint: str
) -> None:
    assert counts(aws, endpoint) == ("InService", 1, 1)
    autoscale(fast_stack, endpoint, "--max", "2")
    scaled_to_zero(aws, endpoint)
    [activity] = activities(aws, endpoint)
    assert activity["StatusCode"] == "Successful"
    assert activity["Description"] == "Setting desired instance count to 0."
    assert "-AlarmLow-" in activity["Cause"] and activity["Cause"].endswith(
        f"triggered policy wasync-{endpoint}-backlog-per-instance"
    )
    # The target tracking policy's own alarms, as AWS creates them, in CloudWatch.
    policies = aws.client("application-autoscaling").describe_scaling_policies(
        ServiceNamespace="sagemaker", ResourceId=f"endpoint/{endpoint}/variant/AllTraffic"
    )["ScalingPolicies"]
    tracking = next(p for p in policies if p["PolicyType"] == "TargetTrackingScaling")
    names = sorted(a["AlarmName"] for a in tracking["Alarms"])
    assert [n.split("-Alarm")[1].split("-")[0] for n in names] == ["High", "Low"]
    low = aws.client("cloudwatch").describe_alarms(AlarmNames=[names[1]])["MetricAlarms"][0]
    assert (low["StateValue"], low["EvaluationPeriods"], low["Threshold"]) == ("ALARM", 15, 1.8)
    # The step policy lists the alarm that invokes it, as AWS lists it.
    step = next(p for p in policies if p["PolicyType"] == "StepScaling")
    assert [a["AlarmName"] for a in step["Alarms"]] == [f"wasync-{endpoint}-scale-out-from-zero"]
    assert fast_stack.endpoints()[endpoint]["instances"] == []


def test_one_transcribe_brings_the_endpoint_back_from_zero(
    fast_stack: RunningStack, aws: Clients, endpoint: str, data_dir: Path
) -> None:
    autoscale(fast_stack, endpoint, "--max", "2")
    scaled_to_zero(aws, endpoint)
    command = ("-e", endpoint, "transcribe", str(data_dir / "en_short.wav"), "--wait")
    result = fast_stack.cli(*command)
    assert result.exit_code == 0, result.output
    assert "lazy dog" in result.stdout.lower()
    assert f"{endpoint} is scaled to zero" in result.stderr
    # The result can come back before the scale-out activity is marked done: wait for its end.
    out = wait_until(
        lambda: next(
            (
                a
                for a in activities(aws, endpoint)
                if a["Description"].endswith(" to 1.") and a["StatusCode"] != "InProgress"
            ),
            None,
        ),
        "the scale-out from zero to end",
    )
    assert out["StatusCode"] == "Successful"
    assert out["Cause"] == (
        f"monitor alarm {from_zero_alarm(aws, endpoint)['AlarmName']} in state ALARM "
        f"triggered policy wasync-{endpoint}-scale-out-from-zero"
    )
    scaled_to_zero(aws, endpoint)  # and back to zero once idle
    # The same command again sends nothing: no word of an instance to wait for.
    again = fast_stack.cli(*command)
    assert again.exit_code == 0, again.output
    assert "lazy dog" in again.stdout.lower()
    assert "scaled to zero" not in again.stderr
    assert counts(aws, endpoint)[1:] == (0, 0)


def test_a_burst_scales_out_to_the_maximum_and_back_to_zero(
    fast_stack: RunningStack, aws: Clients, endpoint: str, data_dir: Path
) -> None:
    autoscale(fast_stack, endpoint, "--max", "3", "--target", "2")
    scaled_to_zero(aws, endpoint)
    jobs = [invoke(aws, endpoint, data_dir / "en_short.wav") for _ in range(12)]
    wait_until(lambda: counts(aws, endpoint)[1] == 3, "three instances in service")
    assert [waited(aws, job)[0] for job in jobs] == ["output"] * 12
    scaled_to_zero(aws, endpoint)
    described = [(a["Description"], a["StatusCode"]) for a in reversed(activities(aws, endpoint))]
    assert ("Setting desired instance count to 3.", "Successful") in described
    assert described[-1] == ("Setting desired instance count to 0.", "Successful")


def test_scale_in_drains_running_jobs_and_loses_none(
    fast_stack: RunningStack, aws: Clients, data_dir: Path
) -> None:
    with fast_stack.own_endpoint(
        "--instance", "ml.g5.xlarge", "--max-concurrency", "1", "--initial-count", "2"
    ) as name:
        jobs = [invoke(aws, name, data_dir / "en_30s.wav") for _ in range(2)]
        wait_until(lambda: fast_stack.endpoints()[name]["running"] == 2, "both jobs running")
        aws.client("sagemaker").update_endpoint_weights_and_capacities(
            EndpointName=name,
            DesiredWeightsAndCapacities=[{"VariantName": "AllTraffic", "DesiredInstanceCount": 0}],
        )
        assert counts(aws, name)[0] == "Updating"
        assert [waited(aws, job)[0] for job in jobs] == ["output", "output"]
        scaled_to_zero(aws, name)
        assert fast_stack.endpoints()[name]["instances"] == []


def test_transcribe_refuses_an_endpoint_at_zero_that_nothing_will_start(
    fast_stack: RunningStack, aws: Clients, data_dir: Path
) -> None:
    """At 0 instances without autoscaling (`autoscale --off` after a scale-in, or capacity set
    to 0), `transcribe --wait` sent the job and waited out its whole --timeout."""
    with fast_stack.own_endpoint("--instance", "ml.g5.xlarge") as name:
        aws.client("sagemaker").update_endpoint_weights_and_capacities(
            EndpointName=name,
            DesiredWeightsAndCapacities=[{"VariantName": "AllTraffic", "DesiredInstanceCount": 0}],
        )
        scaled_to_zero(aws, name)
        result = fast_stack.cli("-e", name, "transcribe", str(data_dir / "en_short.wav"), "--wait")
        assert result.exit_code == 2, result.output
        assert f"Endpoint {name} has 0 instances and nothing will start one" in result.stderr
        assert "wasync autoscale" in result.stderr
        assert queued(fast_stack, name) == 0


def test_a_redeploy_of_a_scaled_in_endpoint_keeps_it_at_zero_and_its_settings(
    fast_stack: RunningStack, aws: Clients
) -> None:
    """`wasync deploy --language en` again, nothing else said, on an endpoint autoscaling had
    taken to zero: the update started the config's instance, and the instance type,
    concurrency and notifications went back to the defaults."""
    with fast_stack.own_endpoint("--instance", "ml.c5.xlarge", "--max-concurrency", "2") as name:
        autoscale(fast_stack, name, "--max", "1")
        scaled_to_zero(aws, name)
        redeployed = fast_stack.cli("-e", name, "deploy", "--language", "en")
        assert redeployed.exit_code == 0, redeployed.output
        changes = [line for line in redeployed.stderr.splitlines() if "changes" in line]
        assert changes == ["  changes environment WASYNC_DEFAULT_LANGUAGE: (unset) -> en"]
        assert counts(aws, name) == ("InService", 0, 0)
        assert fast_stack.endpoints()[name]["instances"] == []
        # The config still says 1 instance; an --initial-count 1 is a change from the 0 it runs.
        scale_ins_before = scale_ins(aws, name)
        asked = fast_stack.cli("-e", name, "deploy", "--language", "en", "--initial-count", "1")
        assert asked.exit_code == 0, asked.output
        assert "instances: 0 -> 1" in asked.stderr
        assert "stay only until autoscaling scales in when idle" in asked.stderr
        assert "wasync autoscale --min 1" in asked.stderr
        # Idle, it goes back to 0 after the scale-in cooldown (15 s here): on a loaded machine
        # that came before this check, so either it still runs 1 or autoscaling took it in.
        assert counts(aws, name)[2] == 1 or scale_ins(aws, name) > scale_ins_before


def test_a_job_waits_at_zero_and_fails_when_its_ttl_passes(
    fast_stack: RunningStack, aws: Clients, endpoint: str, data_dir: Path
) -> None:
    stuck_at_zero(fast_stack, aws, endpoint)
    job = invoke(aws, endpoint, data_dir / "en_short.wav", RequestTTLSeconds=300)
    kind, body = waited(aws, job)
    assert kind == "failure"
    assert b"request_expired" in body and b"RequestTTLSeconds of 300" in body
    assert counts(aws, endpoint) == ("InService", 0, 0)


def test_a_threshold_that_never_fires_leaves_work_queued_at_zero_until_fixed(
    fast_stack: RunningStack, aws: Clients, endpoint: str, data_dir: Path
) -> None:
    stuck_at_zero(fast_stack, aws, endpoint)
    job = invoke(aws, endpoint, data_dir / "en_short.wav")

    def warned_for_five_minutes() -> str | None:
        shown = fast_stack.cli("-e", endpoint, "status")
        found = re.search(r"backlog without capacity for (\d+) minutes", shown.output)
        return shown.output if found and int(found.group(1)) >= 5 else None

    output = wait_until(warned_for_five_minutes, "status to warn of 5 minutes without capacity")
    assert "the alarm has not fired" in output and "is OK" in output
    assert counts(aws, endpoint) == ("InService", 0, 0) and queued(fast_stack, endpoint) == 1
    assert not any(a["Description"].endswith(" to 1.") for a in activities(aws, endpoint))
    autoscale(fast_stack, endpoint, "--max", "1")  # puts the right alarm back
    assert waited(aws, job)[0] == "output"


def test_delete_while_scaled_to_zero_removes_everything_and_fails_queued_work(
    fast_stack: RunningStack, aws: Clients, data_dir: Path
) -> None:
    with fast_stack.own_endpoint("--instance", "ml.g5.xlarge") as name:
        stuck_at_zero(fast_stack, aws, name)
        job = invoke(aws, name, data_dir / "en_short.wav")
        deleted = fast_stack.cli("-e", name, "delete", "--yes")
        assert deleted.exit_code == 0, deleted.output
        kind, body = waited(aws, job)
        assert kind == "failure" and b"endpoint_deleted" in body
        assert name not in fast_stack.endpoints()
        targets = aws.client("application-autoscaling").describe_scalable_targets(
            ServiceNamespace="sagemaker"
        )["ScalableTargets"]
        assert all(name not in t["ResourceId"] for t in targets)
        alarms = aws.client("cloudwatch").describe_alarms()["MetricAlarms"]
        assert [a["AlarmName"] for a in alarms if name in a["AlarmName"]] == []
