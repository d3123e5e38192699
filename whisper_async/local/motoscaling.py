"""The scaler's AWS side: moto's Application Auto Scaling and CloudWatch, taught the little
that AWS does and moto does not, and read and written for the scaler.

What moto lacks, added in the stack's own process by `install()` (moto's server runs there):
- DescribeScalingActivities: moto has no scaling activities. The scaler records each one here
  (`ACTIVITIES`, the same way Application Auto Scaling's own service writes them: there is no
  public API to write one), and `aws application-autoscaling describe-scaling-activities`
  reads them through moto's server like any other call.
- The CloudWatch alarms of a SageMaker target tracking policy: AWS creates two for each policy
  (moto does so for ECS and DynamoDB only), `TargetTracking-{resource}-AlarmHigh-{uuid}` (the
  metric above the target for 3 of 3 one-minute periods) and `...-AlarmLow-{uuid}` (below 90%
  of it for 15 of 15, not created with DisableScaleIn), listed in the policy's `Alarms` and
  deleted with it.
- A scaling policy's `Alarms` name every alarm that invokes it (moto names the ones it made).
- CloudWatch alarms that start in INSUFFICIENT_DATA, and DescribeAlarmHistory
  (`motoalarms.py`).
- Replacing or deregistering: moto leaves a replaced policy's alarms behind and keeps a
  deregistered target's policies; AWS deletes both.

Everything else goes through the public APIs, except the datapoints an alarm evaluates: they
are read from moto's store directly, because GetMetricStatistics cannot ask for periods
shorter than a second, which a compressed minute can be.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, NamedTuple

from . import motoalarms
from .alarms import AlarmSpec, Evaluation, MetricId
from .pages import BadPageToken, page_of
from .policies import TARGET_TRACKING, Policy, ScalableTarget
from .scaler import NAMESPACE, Activity


class AlarmKind(NamedTuple):
    label: str
    periods: int  # one-minute periods, all of them breaching
    ratio: float  # of the target value
    comparison: str


OLD_RUN_ENDS_SCAN = 500  # datapoints before the window, in a row, that end the scan
HISTORY_SLACK = 600.0  # stack seconds older than a window that a late datapoint may still be

HIGH_ALARM = AlarmKind("AlarmHigh", 3, 1.0, "GreaterThanThreshold")
LOW_ALARM = AlarmKind("AlarmLow", 15, 0.9, "LessThanThreshold")


class ActivityLog:
    """Scaling activities per account and region, newest first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._found: dict[tuple[str, str], OrderedDict[str, dict[str, Any]]] = {}

    def save(self, account: str, region: str, activity: dict[str, Any]) -> None:
        with self._lock:
            log = self._found.setdefault((account, region), OrderedDict())
            log[activity["ActivityId"]] = activity

    def query(
        self,
        account: str,
        region: str,
        namespace: str,
        resource_id: str | None,
        dimension: str | None,
    ) -> list[dict[str, Any]]:
        with self._lock:
            found = list(self._found.get((account, region), {}).values())
        found.sort(key=lambda a: a["StartTime"], reverse=True)
        return [
            a
            for a in found
            if a["ServiceNamespace"] == namespace
            and resource_id in (None, a["ResourceId"])
            and dimension in (None, a["ScalableDimension"])
        ]


ACTIVITIES = ActivityLog()


def _describe_scaling_activities(self: Any) -> str:
    """moto's missing DescribeScalingActivities, paged as AWS pages it."""
    self._validate_params()
    found = ACTIVITIES.query(
        self.current_account,
        self.region,
        self._get_param("ServiceNamespace"),
        self._get_param("ResourceId"),
        self._get_param("ScalableDimension"),
    )
    from moto.applicationautoscaling.exceptions import AWSValidationException

    try:
        page, token = page_of(
            found, self._get_param("NextToken"), self._get_int_param("MaxResults") or 50
        )
    except BadPageToken as refused:
        raise AWSValidationException(str(refused)) from None
    body: dict[str, Any] = {"ScalingActivities": page}
    if token is not None:
        body["NextToken"] = token
    return json.dumps(body)


def _tracked_metric(resource_id: str, config: dict[str, Any]) -> dict[str, Any] | None:
    custom = config.get("CustomizedMetricSpecification")
    if custom and custom.get("MetricName"):
        return {
            "namespace": custom.get("Namespace", ""),
            "metric_name": custom["MetricName"],
            "dimensions": list(custom.get("Dimensions", [])),
            "statistic": custom.get("Statistic", "Average"),
        }
    predefined = (config.get("PredefinedMetricSpecification") or {}).get("PredefinedMetricType")
    if predefined == "SageMakerVariantInvocationsPerInstance":
        _, endpoint, _, variant = resource_id.split("/")
        return {
            "namespace": "AWS/SageMaker",
            "metric_name": "InvocationsPerInstance",
            "dimensions": [
                {"Name": "EndpointName", "Value": endpoint},
                {"Name": "VariantName", "Value": variant},
            ],
            "statistic": "Sum",
        }
    return None  # metric math and the other predefined metrics: no alarms, so no scaling


def _target_tracking_alarms(policy: Any) -> list[Any]:
    """The two alarms AWS creates for a SageMaker variant's target tracking policy."""
    from moto.cloudwatch.models import cloudwatch_backends

    config = policy.target_tracking_scaling_policy_configuration or {}
    metric = _tracked_metric(policy.resource_id, config)
    if metric is None:
        return []
    cloudwatch = cloudwatch_backends[policy.account_id][policy.region_name]
    kinds = [HIGH_ALARM] if config.get("DisableScaleIn") else [HIGH_ALARM, LOW_ALARM]
    alarms = []
    for kind in kinds:
        alarms.append(
            cloudwatch.put_metric_alarm(
                name=f"TargetTracking-{policy.resource_id}-{kind.label}-{uuid.uuid4()}",
                comparison_operator=kind.comparison,
                evaluation_periods=kind.periods,
                datapoints_to_alarm=kind.periods,
                period=60,
                threshold=float(config["TargetValue"]) * kind.ratio,
                description=(
                    f"DO NOT EDIT OR DELETE. For TargetTrackingScaling policy {policy.policy_arn}."
                ),
                alarm_actions=[policy.policy_arn],
                treat_missing_data="missing",
                **metric,
            )
        )
    return alarms


def _alarms_invoking(policy: Any, listed: list[dict[str, str]]) -> list[dict[str, str]]:
    """A policy's `Alarms`: moto lists only the alarms it made itself; AWS also lists every
    alarm that invokes the policy (wasync's scale-out-from-zero alarm on its step policy)."""
    from moto.cloudwatch.models import cloudwatch_backends

    names = {alarm["AlarmName"] for alarm in listed}
    cloudwatch = cloudwatch_backends[policy.account_id][policy.region_name]
    for alarm in cloudwatch.alarms.values():
        actions = [*alarm.alarm_actions, *alarm.ok_actions, *alarm.insufficient_data_actions]
        invokes = any(a.split(":createdBy/", 1)[0] == policy.policy_arn for a in actions)
        if invokes and alarm.name not in names:
            listed.append({"AlarmARN": alarm.alarm_arn, "AlarmName": alarm.name})
    return listed


def serve_scaling_activities() -> None:
    """moto's missing DescribeScalingActivities (for the stack, and for tests on moto)."""
    from moto.applicationautoscaling.responses import ApplicationAutoScalingResponse

    ApplicationAutoScalingResponse.describe_scaling_activities = _describe_scaling_activities  # type: ignore[attr-defined]  # moto lacks this operation


_installed = False


def install() -> None:
    """Teach the in-process moto everything listed above; once per process."""
    global _installed
    if _installed:
        return
    from moto.applicationautoscaling import responses
    from moto.applicationautoscaling.models import (
        ApplicationAutoscalingBackend,
        FakeApplicationAutoscalingPolicy,
    )

    serve_scaling_activities()
    motoalarms.install()
    build_alarms = responses._build_alarms
    responses._build_alarms = lambda policy: _alarms_invoking(policy, build_alarms(policy))
    create_alarms = FakeApplicationAutoscalingPolicy.create_alarms

    def with_sagemaker_alarms(policy: Any) -> None:
        create_alarms(policy)
        if policy.service_namespace == NAMESPACE and policy.policy_type == TARGET_TRACKING:
            policy.alarms.extend(_target_tracking_alarms(policy))

    put_policy = ApplicationAutoscalingBackend.put_scaling_policy

    def replacing_alarms(backend: Any, **params: Any) -> Any:  # moto passes keywords only
        key = FakeApplicationAutoscalingPolicy.formulate_key(
            params["service_namespace"],
            params["resource_id"],
            params["scalable_dimension"],
            params["policy_name"],
        )
        if key in backend.policies:
            backend.policies[key].delete_alarms(backend.account_id, backend.region_name)
        return put_policy(backend, **params)

    deregister = ApplicationAutoscalingBackend.deregister_scalable_target

    def with_policies(backend: Any, namespace: str, r_id: str, dimension: str) -> None:
        deregister(backend, namespace, r_id, dimension)
        for key, policy in list(backend.policies.items()):
            if (policy.service_namespace, policy.resource_id) == (namespace, r_id) and (
                policy.scalable_dimension == dimension
            ):
                policy.delete_alarms(backend.account_id, backend.region_name)
                del backend.policies[key]

    # Patching moto's classes in this process is the point here; the wrappers call the originals.
    FakeApplicationAutoscalingPolicy.create_alarms = with_sagemaker_alarms  # type: ignore[method-assign,assignment]  # moto's method, wrapped
    ApplicationAutoscalingBackend.put_scaling_policy = replacing_alarms  # type: ignore[method-assign,assignment]  # moto's method, wrapped
    ApplicationAutoscalingBackend.deregister_scalable_target = with_policies  # type: ignore[method-assign,assignment]  # moto's method, wrapped
    _installed = True


def _seconds(moment: dt.datetime) -> float:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.timestamp()


class MotoScalingView:
    """The scaler's `ScalingView` of the stack's moto server (in this process)."""

    def __init__(self, client: Callable[[str], Any], account: str, region: str) -> None:
        self._autoscaling = client("application-autoscaling")
        self._cloudwatch = client("cloudwatch")
        self.account, self.region = account, region

    def _pages(self, client: Any, operation: str, key: str, **params: Any) -> list[Any]:
        found: list[Any] = []
        for page in client.get_paginator(operation).paginate(**params):
            found += page.get(key, [])
        return found

    def targets(self) -> list[ScalableTarget]:
        found = self._pages(
            self._autoscaling,
            "describe_scalable_targets",
            "ScalableTargets",
            ServiceNamespace=NAMESPACE,
        )
        return [ScalableTarget.from_api(t) for t in found]

    def policies(self) -> list[Policy]:
        found = self._pages(
            self._autoscaling,
            "describe_scaling_policies",
            "ScalingPolicies",
            ServiceNamespace=NAMESPACE,
        )
        return [Policy.from_api(p) for p in found]

    def alarms(self) -> list[AlarmSpec]:
        found = self._pages(self._cloudwatch, "describe_alarms", "MetricAlarms")
        return [AlarmSpec.from_api(a) for a in found]

    def datapoints(self, metric: MetricId, start: float, end: float) -> list[tuple[float, float]]:
        from moto.cloudwatch.models import cloudwatch_backends

        store = cloudwatch_backends[self.account][self.region]
        points = []
        # Newest first, and stop well before the window: moto keeps every datapoint, mostly in
        # the order they came, so a long-running stack is not scanned whole every minute.
        stored = store.metric_data  # moto only appends to it, so indexes below its length hold
        old_in_a_row = 0
        for index in range(len(stored) - 1, -1, -1):
            datum = stored[index]
            moment = _seconds(datum.timestamp)
            if moment < start - HISTORY_SLACK:
                # A client may put an old datapoint late (a backfill): one alone ends nothing.
                old_in_a_row += 1
                if old_in_a_row >= OLD_RUN_ENDS_SCAN:
                    break
                continue
            old_in_a_row = 0
            value = getattr(datum, "value", None)
            if datum.name != metric.name or datum.namespace != metric.namespace or value is None:
                continue
            if frozenset((d.name, d.value) for d in datum.dimensions) != metric.dimensions:
                continue
            if start <= moment < end:
                points.append((moment, float(value)))
        return points

    def set_alarm_state(self, name: str, evaluation: Evaluation) -> None:
        self._cloudwatch.set_alarm_state(
            AlarmName=name,
            StateValue=evaluation.state,
            StateReason=evaluation.reason[:1023],
            StateReasonData=evaluation.reason_data,
        )

    def save_activity(self, activity: Activity) -> None:
        ACTIVITIES.save(self.account, self.region, activity.to_api())
