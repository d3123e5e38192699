"""autoscale: target tracking on the backlog per instance, plus step scaling out from zero."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import naming
from .clients import Clients
from .endpoint import describe
from .errors import NotFoundError, UsageError, error_code

DIMENSION = "sagemaker:variant:DesiredInstanceCount"
NAMESPACE = "sagemaker"


@dataclass(frozen=True)
class ScalingSettings:
    endpoint: str
    min_capacity: int
    max_capacity: int
    target_backlog: float
    scale_in_cooldown: int
    scale_out_cooldown: int
    target_policy: str
    step_policy: str | None
    alarm: str | None


def target_policy_name(endpoint: str) -> str:
    return f"wasync-{endpoint}-backlog-per-instance"


def step_policy_name(endpoint: str) -> str:
    return f"wasync-{endpoint}-scale-out-from-zero"


def configure(
    clients: Clients,
    min_capacity: int = 0,
    max_capacity: int = 1,
    target_backlog: float = 2.0,
    scale_in_cooldown: int = 600,
    scale_out_cooldown: int = 60,
) -> ScalingSettings:
    """Create or update in place: the scalable target, both policies and the alarm."""
    endpoint = clients.settings.endpoint
    if min_capacity < 0 or max_capacity < 1 or max_capacity < min_capacity:
        raise UsageError(
            f"--min {min_capacity} / --max {max_capacity} is not a valid range",
            "use 0 <= min <= max and max >= 1",
        )
    if target_backlog <= 0:
        raise UsageError("--target must be greater than 0 (queued requests per instance)")
    if describe(clients, endpoint) is None:
        raise NotFoundError(
            f"Endpoint {endpoint} does not exist.", "deploy it first with `wasync deploy`"
        )
    scaling = clients.client("application-autoscaling")
    resource_id = naming.scaling_resource_id(endpoint)
    scaling.register_scalable_target(
        ServiceNamespace=NAMESPACE,
        ResourceId=resource_id,
        ScalableDimension=DIMENSION,
        MinCapacity=min_capacity,
        MaxCapacity=max_capacity,
    )
    scaling.put_scaling_policy(
        PolicyName=target_policy_name(endpoint),
        ServiceNamespace=NAMESPACE,
        ResourceId=resource_id,
        ScalableDimension=DIMENSION,
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": float(target_backlog),
            "CustomizedMetricSpecification": {
                "MetricName": "ApproximateBacklogSizePerInstance",
                "Namespace": "AWS/SageMaker",
                "Dimensions": [{"Name": "EndpointName", "Value": endpoint}],
                "Statistic": "Average",
            },
            "ScaleInCooldown": scale_in_cooldown,
            "ScaleOutCooldown": scale_out_cooldown,
        },
    )
    step_policy = alarm = None
    if min_capacity == 0:
        # Target tracking cannot leave zero instances by itself: a step policy does that.
        step_policy = step_policy_name(endpoint)
        policy_arn = scaling.put_scaling_policy(
            PolicyName=step_policy,
            ServiceNamespace=NAMESPACE,
            ResourceId=resource_id,
            ScalableDimension=DIMENSION,
            PolicyType="StepScaling",
            StepScalingPolicyConfiguration={
                "AdjustmentType": "ChangeInCapacity",
                "MetricAggregationType": "Average",
                "Cooldown": scale_out_cooldown,
                "StepAdjustments": [{"MetricIntervalLowerBound": 0.0, "ScalingAdjustment": 1}],
            },
        )["PolicyARN"]
        alarm = naming.alarm_name(endpoint)
        clients.client("cloudwatch").put_metric_alarm(
            AlarmName=alarm,
            AlarmDescription=f"Scale {endpoint} out from zero when requests wait without capacity (wasync)",
            Namespace="AWS/SageMaker",
            MetricName="HasBacklogWithoutCapacity",
            Dimensions=[{"Name": "EndpointName", "Value": endpoint}],
            Statistic="Average",
            Period=60,
            EvaluationPeriods=2,
            DatapointsToAlarm=2,
            Threshold=1.0,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
            TreatMissingData="missing",
            AlarmActions=[policy_arn],
        )
    else:
        _remove_step_scaling(clients, endpoint)
    return ScalingSettings(
        endpoint,
        min_capacity,
        max_capacity,
        float(target_backlog),
        scale_in_cooldown,
        scale_out_cooldown,
        target_policy_name(endpoint),
        step_policy,
        alarm,
    )


def _ignore_missing(call: Any, **params: Any) -> bool:
    try:
        call(**params)
        return True
    except Exception as exc:
        if error_code(exc) in {
            "ObjectNotFoundException",
            "ResourceNotFound",
            "ValidationException",
        }:
            return False
        raise


def _remove_step_scaling(clients: Clients, endpoint: str) -> list[str]:
    removed = []
    resource = {
        "ServiceNamespace": NAMESPACE,
        "ResourceId": naming.scaling_resource_id(endpoint),
        "ScalableDimension": DIMENSION,
    }
    if _ignore_missing(
        clients.client("application-autoscaling").delete_scaling_policy,
        PolicyName=step_policy_name(endpoint),
        **resource,
    ):
        removed.append(f"policy/{step_policy_name(endpoint)}")
    cloudwatch = clients.client("cloudwatch")
    if cloudwatch.describe_alarms(AlarmNames=[naming.alarm_name(endpoint)]).get("MetricAlarms"):
        cloudwatch.delete_alarms(AlarmNames=[naming.alarm_name(endpoint)])
        removed.append(f"alarm/{naming.alarm_name(endpoint)}")
    return removed


def disable(clients: Clients, endpoint: str | None = None) -> list[str]:
    """Remove the scalable target, both policies and the alarm; missing pieces are skipped."""
    endpoint = endpoint or clients.settings.endpoint
    scaling = clients.client("application-autoscaling")
    resource = {
        "ServiceNamespace": NAMESPACE,
        "ResourceId": naming.scaling_resource_id(endpoint),
        "ScalableDimension": DIMENSION,
    }
    removed = _remove_step_scaling(clients, endpoint)
    if _ignore_missing(
        scaling.delete_scaling_policy, PolicyName=target_policy_name(endpoint), **resource
    ):
        removed.append(f"policy/{target_policy_name(endpoint)}")
    if _ignore_missing(scaling.deregister_scalable_target, **resource):
        removed.append(f"scalable-target/{resource['ResourceId']}")
    return removed


def current(clients: Clients, endpoint: str) -> dict[str, Any] | None:
    """The registered scaling settings, or None when autoscaling is off."""
    scaling = clients.client("application-autoscaling")
    resource_id = naming.scaling_resource_id(endpoint)
    targets = scaling.describe_scalable_targets(
        ServiceNamespace=NAMESPACE, ResourceIds=[resource_id]
    ).get("ScalableTargets", [])
    if not targets:
        return None
    policies = scaling.describe_scaling_policies(
        ServiceNamespace=NAMESPACE, ResourceId=resource_id
    ).get("ScalingPolicies", [])
    target_value = next(
        (
            p["TargetTrackingScalingPolicyConfiguration"]["TargetValue"]
            for p in policies
            if p["PolicyType"] == "TargetTrackingScaling"
        ),
        None,
    )
    return {
        "min": targets[0]["MinCapacity"],
        "max": targets[0]["MaxCapacity"],
        "target_backlog_per_instance": target_value,
        "policies": sorted(p["PolicyName"] for p in policies),
        "scale_out_from_zero": any(p["PolicyType"] == "StepScaling" for p in policies),
    }
