"""autoscale: target tracking on the backlog per instance, plus step scaling out from zero.

Every change is planned first (reading only), so `autoscale --dry-run` prints the exact
policies and alarm. The variant is read from DescribeEndpoint: endpoints made by other tools
name theirs as they like (`variant1`), and a scalable target must name the real one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from . import naming
from .clients import Clients
from .durations import parse_duration
from .errors import UsageError
from .plan import Output, Plan, Step, deleted_names, execute
from .resources import require_endpoint, variant_name

DIMENSION = "sagemaker:variant:DesiredInstanceCount"
NAMESPACE = "sagemaker"


@dataclass(frozen=True)
class ScalingRequest:
    min_capacity: int = 0
    max_capacity: int = 1
    target_backlog: float = 2.0
    scale_in_cooldown: int = 600
    scale_out_cooldown: int = 60

    def __post_init__(self) -> None:
        if self.min_capacity < 0 or self.max_capacity < 1 or self.max_capacity < self.min_capacity:
            raise UsageError(
                f"--min {self.min_capacity} / --max {self.max_capacity} is not a valid range",
                "use 0 <= min <= max and max >= 1",
            )
        if not math.isfinite(self.target_backlog) or self.target_backlog <= 0:
            raise UsageError(
                f"--target {self.target_backlog:g} is not allowed: it must be a number "
                "greater than 0",
                "pass the queued requests per instance to aim for, e.g. --target 2",
            )
        if self.scale_in_cooldown < 0 or self.scale_out_cooldown < 0:
            raise UsageError("cooldowns must be 0 seconds or more", "for example 600s or 0s")


# Application Auto Scaling's cooldowns are 32-bit integers of seconds
MOST_COOLDOWN_SECONDS = 2**31 - 1


def cooldown_seconds(flag: str, text: str) -> int:
    """A cooldown option (`600`, `10m`) as seconds, refused where Application Auto Scaling
    would refuse it after the scalable target was registered."""
    try:
        seconds = parse_duration(text)
    except UsageError as exc:
        raise UsageError(f"{flag} {exc.message}", exc.hint) from None
    if seconds > MOST_COOLDOWN_SECONDS:
        raise UsageError(
            f"{flag} {text} is longer than Application Auto Scaling takes "
            f"({MOST_COOLDOWN_SECONDS} seconds)",
            "cooldowns are usually minutes, e.g. 10m",
        )
    return seconds


@dataclass(frozen=True)
class ScalingState:
    """What Application Auto Scaling has registered for one variant now."""

    resource_id: str
    min_capacity: int
    max_capacity: int
    target_backlog_per_instance: float | None
    policies: tuple[str, ...]
    scale_out_from_zero: bool


@dataclass(frozen=True)
class ScalingSettings:
    """The result of `autoscale`: what is (or, for a plan, will be) in force."""

    endpoint: str
    variant: str
    resource_id: str
    min_capacity: int
    max_capacity: int
    target_backlog: float
    scale_in_cooldown: int
    scale_out_cooldown: int
    target_policy: str
    step_policy: str | None
    alarm: str | None


@dataclass(frozen=True)
class ScalingPlan:
    endpoint: str
    variant: str
    resource_id: str
    steps: tuple[Step, ...]
    settings: ScalingSettings | None  # None when the plan turns autoscaling off

    @property
    def plan(self) -> Plan:
        return Plan(self.steps)


@dataclass(frozen=True)
class ScalingRemoved:
    """The result of `autoscale --off`."""

    endpoint: str
    removed: tuple[str, ...]


def _resource(resource_id: str) -> dict[str, str]:
    return {
        "ServiceNamespace": NAMESPACE,
        "ResourceId": resource_id,
        "ScalableDimension": DIMENSION,
    }


def current(clients: Clients, endpoint: str, variant: str) -> ScalingState | None:
    """The registered scaling of one variant, or None when autoscaling is off."""
    scaling = clients.client("application-autoscaling")
    resource_id = naming.scaling_resource_id(endpoint, variant)
    targets = scaling.describe_scalable_targets(
        ServiceNamespace=NAMESPACE, ResourceIds=[resource_id], ScalableDimension=DIMENSION
    ).get("ScalableTargets", [])
    if not targets:
        return None
    policies = scaling.describe_scaling_policies(
        ServiceNamespace=NAMESPACE, ResourceId=resource_id, ScalableDimension=DIMENSION
    ).get("ScalingPolicies", [])
    target_value = next(
        (
            p["TargetTrackingScalingPolicyConfiguration"]["TargetValue"]
            for p in policies
            if p["PolicyType"] == "TargetTrackingScaling"
        ),
        None,
    )
    return ScalingState(
        resource_id=resource_id,
        min_capacity=int(targets[0]["MinCapacity"]),
        max_capacity=int(targets[0]["MaxCapacity"]),
        target_backlog_per_instance=None if target_value is None else float(target_value),
        policies=tuple(sorted(p["PolicyName"] for p in policies)),
        scale_out_from_zero=any(p["PolicyType"] == "StepScaling" for p in policies),
    )


def _alarm_exists(clients: Clients, name: str) -> bool:
    found = clients.client("cloudwatch").describe_alarms(AlarmNames=[name])
    return bool(found.get("MetricAlarms"))


def _delete_policy(resource_id: str, policy: str) -> Step:
    return Step(
        "application-autoscaling",
        "delete_scaling_policy",
        {"PolicyName": policy, **_resource(resource_id)},
        f"delete policy/{policy}",
        missing_ok=True,
    )


def _delete_alarm(name: str) -> Step:
    return Step("cloudwatch", "delete_alarms", {"AlarmNames": [name]}, f"delete alarm/{name}", True)


def _step_scaling_removal(
    clients: Clients, endpoint: str, resource_id: str, state: ScalingState | None
) -> list[Step]:
    name = naming.scale_out_from_zero_name(endpoint)
    steps = []
    if state is not None and name in state.policies:
        steps.append(_delete_policy(resource_id, name))
    if _alarm_exists(clients, name):
        steps.append(_delete_alarm(name))
    return steps


def plan_configure(clients: Clients, request: ScalingRequest) -> ScalingPlan:
    """Create or update in place: the scalable target, both policies and the alarm."""
    endpoint = clients.settings.endpoint
    described = require_endpoint(clients, endpoint, "deploy it first with `wasync deploy`")
    variant = variant_name(described)
    resource_id = naming.scaling_resource_id(endpoint, variant)
    resource = _resource(resource_id)
    target_policy = naming.target_policy_name(endpoint)
    steps = [
        Step(
            "application-autoscaling",
            "register_scalable_target",
            {
                **resource,
                "MinCapacity": request.min_capacity,
                "MaxCapacity": request.max_capacity,
            },
            f"register scalable target {resource_id} "
            f"({request.min_capacity}-{request.max_capacity} instances)",
        ),
        Step(
            "application-autoscaling",
            "put_scaling_policy",
            {
                "PolicyName": target_policy,
                **resource,
                "PolicyType": "TargetTrackingScaling",
                "TargetTrackingScalingPolicyConfiguration": {
                    "TargetValue": float(request.target_backlog),
                    "CustomizedMetricSpecification": {
                        "MetricName": "ApproximateBacklogSizePerInstance",
                        "Namespace": "AWS/SageMaker",
                        "Dimensions": [{"Name": "EndpointName", "Value": endpoint}],
                        "Statistic": "Average",
                    },
                    "ScaleInCooldown": request.scale_in_cooldown,
                    "ScaleOutCooldown": request.scale_out_cooldown,
                },
            },
            f"put target tracking policy {target_policy} "
            f"({request.target_backlog:g} queued requests per instance)",
        ),
    ]
    step_policy = alarm = None
    if request.min_capacity == 0:
        # Target tracking cannot leave zero instances by itself: a step policy does that,
        # triggered by an alarm on HasBacklogWithoutCapacity.
        step_policy = alarm = naming.scale_out_from_zero_name(endpoint)
        steps.append(
            Step(
                "application-autoscaling",
                "put_scaling_policy",
                {
                    "PolicyName": step_policy,
                    **resource,
                    "PolicyType": "StepScaling",
                    "StepScalingPolicyConfiguration": {
                        "AdjustmentType": "ChangeInCapacity",
                        "MetricAggregationType": "Average",
                        "Cooldown": request.scale_out_cooldown,
                        "StepAdjustments": [
                            {"MetricIntervalLowerBound": 0.0, "ScalingAdjustment": 1}
                        ],
                    },
                },
                f"put step scaling policy {step_policy} (+1 instance)",
            )
        )
        steps.append(
            Step(
                "cloudwatch",
                "put_metric_alarm",
                {
                    "AlarmName": alarm,
                    "AlarmDescription": f"Scale {endpoint} out from zero when requests wait without capacity (wasync)",
                    "Namespace": "AWS/SageMaker",
                    "MetricName": "HasBacklogWithoutCapacity",
                    "Dimensions": [{"Name": "EndpointName", "Value": endpoint}],
                    "Statistic": "Average",
                    "Period": 60,
                    "EvaluationPeriods": 2,
                    "DatapointsToAlarm": 2,
                    "Threshold": 1.0,
                    "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                    "TreatMissingData": "missing",
                    "AlarmActions": [Output(len(steps) - 1, "PolicyARN")],
                },
                f"put alarm {alarm} (HasBacklogWithoutCapacity >= 1 for 2 minutes)",
            )
        )
    else:
        state = current(clients, endpoint, variant)
        steps += _step_scaling_removal(clients, endpoint, resource_id, state)
    settings = ScalingSettings(
        endpoint,
        variant,
        resource_id,
        request.min_capacity,
        request.max_capacity,
        float(request.target_backlog),
        request.scale_in_cooldown,
        request.scale_out_cooldown,
        target_policy,
        step_policy,
        alarm,
    )
    return ScalingPlan(endpoint, variant, resource_id, tuple(steps), settings)


def removal_steps(clients: Clients, endpoint: str, variant: str) -> tuple[Step, ...]:
    """The steps that remove a variant's scalable target, both policies and the alarm; only
    for what exists."""
    resource_id = naming.scaling_resource_id(endpoint, variant)
    state = current(clients, endpoint, variant)
    steps = _step_scaling_removal(clients, endpoint, resource_id, state)
    if state is not None:
        target_policy = naming.target_policy_name(endpoint)
        if target_policy in state.policies:
            steps.append(_delete_policy(resource_id, target_policy))
        steps.append(
            Step(
                "application-autoscaling",
                "deregister_scalable_target",
                _resource(resource_id),
                f"delete scalable-target/{resource_id}",
                missing_ok=True,
            )
        )
    return tuple(steps)


def plan_disable(clients: Clients) -> ScalingPlan:
    endpoint = clients.settings.endpoint
    described = require_endpoint(clients, endpoint, "check --endpoint")
    variant = variant_name(described)
    return ScalingPlan(
        endpoint,
        variant,
        naming.scaling_resource_id(endpoint, variant),
        removal_steps(clients, endpoint, variant),
        None,
    )


def configure(
    clients: Clients,
    min_capacity: int = 0,
    max_capacity: int = 1,
    target_backlog: float = 2.0,
    scale_in_cooldown: int = 600,
    scale_out_cooldown: int = 60,
) -> ScalingSettings:
    """Plan and apply in one go (what `autoscale` does without --dry-run)."""
    request = ScalingRequest(
        min_capacity, max_capacity, target_backlog, scale_in_cooldown, scale_out_cooldown
    )
    plan = plan_configure(clients, request)
    execute(clients, plan.plan)
    assert plan.settings is not None
    return plan.settings


def disable(clients: Clients) -> ScalingRemoved:
    plan = plan_disable(clients)
    execute(clients, plan.plan)
    return ScalingRemoved(plan.endpoint, deleted_names(plan.steps))
