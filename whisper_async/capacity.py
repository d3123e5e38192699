"""Does the endpoint have the capacity its work needs? The alarms on its metrics, its latest
scaling activity, and how long requests have waited with no instance to run them.

A scale-to-zero setup fails silently when its alarm never fires: a wrong threshold or
statistic leaves the endpoint at zero instances while requests wait until their TTL. This
report shows that as a warning, `backlog without capacity for N minutes`, with what it found
wrong. Minutes are AWS minutes: on the local stack at `--time-scale 60` one passes per second,
and the report reads the metric at that resolution.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from .clients import Clients
from .errors import AccessDeniedError

WITHOUT_CAPACITY = "HasBacklogWithoutCapacity"
QUEUE_METRICS = (
    WITHOUT_CAPACITY,
    "ApproximateBacklogSizePerInstance",
    "ApproximateBacklogSize",
    "ApproximateAgeOfOldestRequest",
)
LOOKBACK_MINUTES = 180  # how far back the run of backlog without capacity is traced


@dataclass(frozen=True)
class AlarmState:
    name: str
    metric: str
    state: str  # OK, ALARM or INSUFFICIENT_DATA
    since: dt.datetime | None
    reason: str
    actions: tuple[str, ...]  # what it invokes in ALARM


@dataclass(frozen=True)
class Activity:
    description: str
    status: str
    cause: str
    message: str
    start: dt.datetime
    end: dt.datetime | None


@dataclass(frozen=True)
class CapacityReport:
    alarms: tuple[AlarmState, ...]
    latest_activity: Activity | None
    backlog_without_capacity_minutes: int  # 0: there is capacity, or nothing waits
    warnings: tuple[str, ...]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def endpoint_alarms(clients: Clients, endpoint: str) -> tuple[AlarmState, ...]:
    """Every metric alarm on this endpoint's queue metrics: wasync's from-zero alarm, the ones
    Application Auto Scaling made for the target tracking policy, and any of your own."""
    cloudwatch = clients.client("cloudwatch")
    dimension = {"Name": "EndpointName", "Value": endpoint}
    found: dict[str, AlarmState] = {}
    for metric in QUEUE_METRICS:
        alarms = cloudwatch.describe_alarms_for_metric(
            Namespace="AWS/SageMaker", MetricName=metric, Dimensions=[dimension]
        ).get("MetricAlarms", [])
        for alarm in alarms:
            if dimension not in alarm.get("Dimensions", []):
                continue  # an alarm on the same metric of another endpoint
            found[alarm["AlarmName"]] = AlarmState(
                alarm["AlarmName"],
                alarm.get("MetricName", ""),
                alarm.get("StateValue", "INSUFFICIENT_DATA"),
                alarm.get("StateUpdatedTimestamp"),
                alarm.get("StateReason", ""),
                tuple(alarm.get("AlarmActions", [])),
            )
    return tuple(found[name] for name in sorted(found))


def latest_activity(
    clients: Clients, resource_id: str, since: dt.datetime | None = None
) -> Activity | None:
    """The resource's latest scaling activity; none that began before `since` (an endpoint
    deleted and made again under its name keeps the resource id, and its old activities)."""
    try:
        activities = clients.client("application-autoscaling").describe_scaling_activities(
            ServiceNamespace="sagemaker", ResourceId=resource_id, MaxResults=1
        )
    except AccessDeniedError:  # an older user policy without it: status shows the rest
        return None
    for found in activities.get("ScalingActivities", [])[:1]:
        if since is not None and found["StartTime"] < since:
            return None
        return Activity(
            found.get("Description", ""),
            found.get("StatusCode", ""),
            found.get("Cause", ""),
            found.get("StatusMessage", ""),
            found["StartTime"],
            found.get("EndTime"),
        )
    return None


def minute_points(
    clients: Clients,
    endpoint: str,
    metric: str,
    statistic: str,
    minutes: int,
    time_scale: float,
    since: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    """The endpoint's datapoints of `metric` for the last `minutes` AWS minutes, one per minute
    (a minute of the stack's clock, locally), newest first; none whose minute ended before
    `since` (the metrics of an earlier endpoint of the same name)."""
    period = max(1, round(60 / time_scale))
    now = _now()
    points = (
        clients.client("cloudwatch")
        .get_metric_statistics(
            Namespace="AWS/SageMaker",
            MetricName=metric,
            Dimensions=[{"Name": "EndpointName", "Value": endpoint}],
            StartTime=now - dt.timedelta(seconds=minutes * period),
            EndTime=now + dt.timedelta(seconds=period),  # whole seconds: keep the latest in
            Period=period,
            Statistics=[statistic],
        )
        .get("Datapoints", [])
    )
    if since is not None:
        points = [p for p in points if p["Timestamp"] + dt.timedelta(seconds=period) > since]
    fresh = [p for p in points if now - p["Timestamp"] <= dt.timedelta(seconds=3 * period)]
    return sorted(points, key=lambda p: p["Timestamp"], reverse=True) if fresh else []


def latest_point(
    clients: Clients,
    endpoint: str,
    metric: str,
    time_scale: float = 1.0,
    since: dt.datetime | None = None,
) -> dict[str, Any] | None:
    """The metric's latest one-minute datapoint in the last 10 minutes (and not before
    `since`), if any."""
    points = minute_points(clients, endpoint, metric, "Average", 10, time_scale, since)
    return points[0] if points else None


def minutes_without_capacity(
    clients: Clients, endpoint: str, time_scale: float = 1.0, since: dt.datetime | None = None
) -> int:
    """How many minutes, up to now, HasBacklogWithoutCapacity has been 1 without a break."""
    points = minute_points(
        clients, endpoint, WITHOUT_CAPACITY, "Maximum", LOOKBACK_MINUTES, time_scale, since
    )
    run = 0
    for point in points:
        if point["Maximum"] < 1:
            break
        run += 1
    period = max(1, round(60 / time_scale))
    return round(run * period * time_scale / 60)


def diagnose(
    minutes: int,
    alarms: tuple[AlarmState, ...],
    activity: Activity | None,
    autoscaling_on: bool,
) -> tuple[str, ...]:
    """Why requests wait with no instance, when they do."""
    if minutes < 1:
        return ()
    waiting = f"backlog without capacity for {minutes} minute{'s' if minutes != 1 else ''}"
    from_zero = [a for a in alarms if a.metric == WITHOUT_CAPACITY and a.actions]
    if not autoscaling_on:
        return (f"{waiting}: autoscaling is off; `wasync autoscale --min 0` scales out from zero",)
    if not from_zero:
        return (
            f"{waiting}: no alarm on {WITHOUT_CAPACITY} scales the endpoint out from zero; "
            "`wasync autoscale` creates one",
        )
    silent = [a for a in from_zero if a.state != "ALARM"]
    if silent:
        names = ", ".join(f"{a.name} is {a.state}" for a in silent)
        return (
            f"{waiting}, and the alarm has not fired ({names}): check its threshold, "
            "statistic and period (`wasync autoscale` puts the right ones back)",
        )
    if activity is not None and activity.status == "Failed":
        return (f"{waiting}: the last scale-out failed: {activity.message}",)
    if activity is not None and activity.status == "InProgress":
        return ()  # an instance is on its way: that is the normal path out of zero
    return (f"{waiting}: the alarm is in ALARM but no instance is starting",)


def report(
    clients: Clients,
    endpoint: str,
    variant: str,
    autoscaling_on: bool,
    time_scale: float = 1.0,
    since: dt.datetime | None = None,
) -> CapacityReport:
    """`since`: when this endpoint was made; what an earlier one of its name left is not its."""
    alarms = endpoint_alarms(clients, endpoint)
    activity = latest_activity(clients, f"endpoint/{endpoint}/variant/{variant}", since)
    minutes = minutes_without_capacity(clients, endpoint, time_scale, since)
    return CapacityReport(
        alarms, activity, minutes, diagnose(minutes, alarms, activity, autoscaling_on)
    )


def age_minutes(moment: Any, time_scale: float = 1.0) -> int:
    """How many AWS minutes ago `moment` was."""
    if not isinstance(moment, dt.datetime):
        return 0
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return max(0, int((_now() - moment).total_seconds() * time_scale / 60))
