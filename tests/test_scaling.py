"""autoscale against moto's Application Auto Scaling and CloudWatch."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.models import checkpoint_file
from whisper_async import scaling
from whisper_async.endpoint import DeployRequest, deploy, plan_deploy
from whisper_async.errors import NotFoundError, UsageError
from whisper_async.models import push_model

RESOURCE = "endpoint/whisper/variant/AllTraffic"


@pytest.fixture
def endpoint(moto_clients, tmp_path: Path) -> str:  # type: ignore[no-untyped-def]
    checkpoint = tmp_path / "tiny.pt"
    checkpoint_file(checkpoint)
    push_model(moto_clients, str(checkpoint))
    request = DeployRequest(
        "ml.g4dn.xlarge", image_uri="example/wasync:1", role_arn="arn:aws:iam::123456789012:role/r"
    )
    deploy(moto_clients, plan_deploy(moto_clients, request), sleep=lambda s: None)
    return "whisper"


def policies(clients) -> dict:  # type: ignore[no-untyped-def]
    found = clients.client("application-autoscaling").describe_scaling_policies(
        ServiceNamespace="sagemaker", ResourceId=RESOURCE
    )
    return {p["PolicyName"]: p for p in found["ScalingPolicies"]}


def test_scale_to_zero_registers_target_tracking_step_policy_and_alarm(
    moto_clients, endpoint: str
) -> None:
    result = scaling.configure(moto_clients, min_capacity=0, max_capacity=4, target_backlog=3)

    autoscaling = moto_clients.client("application-autoscaling")
    target = autoscaling.describe_scalable_targets(
        ServiceNamespace="sagemaker", ResourceIds=[RESOURCE]
    )["ScalableTargets"][0]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (0, 4)
    assert target["ScalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    found = policies(moto_clients)
    tracking = found["wasync-whisper-backlog-per-instance"][
        "TargetTrackingScalingPolicyConfiguration"
    ]
    assert tracking["TargetValue"] == 3.0
    assert tracking["CustomizedMetricSpecification"] == {
        "MetricName": "ApproximateBacklogSizePerInstance",
        "Namespace": "AWS/SageMaker",
        "Dimensions": [{"Name": "EndpointName", "Value": "whisper"}],
        "Statistic": "Average",
    }
    step = found["wasync-whisper-scale-out-from-zero"]
    assert step["StepScalingPolicyConfiguration"]["AdjustmentType"] == "ChangeInCapacity"
    assert step["StepScalingPolicyConfiguration"]["StepAdjustments"] == [
        {"MetricIntervalLowerBound": 0.0, "ScalingAdjustment": 1}
    ]
    alarm = moto_clients.client("cloudwatch").describe_alarms(AlarmNames=[result.alarm])[
        "MetricAlarms"
    ][0]
    assert alarm["MetricName"] == "HasBacklogWithoutCapacity"
    assert (
        alarm["Statistic"],
        alarm["Period"],
        alarm["EvaluationPeriods"],
        alarm["DatapointsToAlarm"],
    ) == ("Average", 60, 2, 2)
    assert (
        alarm["Threshold"] == 1.0 and alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    )
    assert alarm["AlarmActions"] == [step["PolicyARN"]]


def test_rerun_updates_in_place_without_duplicates(moto_clients, endpoint: str) -> None:
    scaling.configure(moto_clients, 0, 2, 2)
    scaling.configure(moto_clients, 0, 6, 5)
    found = policies(moto_clients)
    assert len(found) == 2
    assert (
        found["wasync-whisper-backlog-per-instance"]["TargetTrackingScalingPolicyConfiguration"][
            "TargetValue"
        ]
        == 5.0
    )
    assert scaling.current(moto_clients, "whisper", "AllTraffic").max_capacity == 6
    assert len(moto_clients.client("cloudwatch").describe_alarms()["MetricAlarms"]) == 1


def test_min_above_zero_drops_the_step_policy_and_alarm(moto_clients, endpoint: str) -> None:
    scaling.configure(moto_clients, 0, 2, 2)
    result = scaling.configure(moto_clients, 1, 2, 2)
    assert result.alarm is None
    assert list(policies(moto_clients)) == ["wasync-whisper-backlog-per-instance"]
    assert moto_clients.client("cloudwatch").describe_alarms()["MetricAlarms"] == []


def test_off_removes_target_policies_and_alarm(moto_clients, endpoint: str) -> None:
    scaling.configure(moto_clients, 0, 2, 2)
    removed = scaling.disable(moto_clients)
    assert len(removed.removed) == 4
    assert scaling.current(moto_clients, "whisper", "AllTraffic") is None
    assert moto_clients.client("cloudwatch").describe_alarms()["MetricAlarms"] == []
    assert scaling.disable(moto_clients).removed == ()


def test_bad_range_and_missing_endpoint_are_refused(moto_clients) -> None:
    with pytest.raises(UsageError, match="not a valid range"):
        scaling.configure(moto_clients, 3, 1)
    with pytest.raises(NotFoundError, match="deploy it first"):
        scaling.configure(moto_clients, 0, 1)
