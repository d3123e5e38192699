"""`wasync status`'s capacity report: the alarms on an endpoint's metrics, how long requests
have waited with no instance, and the warning that names what is wrong."""

from __future__ import annotations

import datetime as dt

from whisper_async import capacity
from whisper_async.capacity import Activity, AlarmState

FROM_ZERO_ACTION = (
    "arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:1:resource/sagemaker/"
    "endpoint/ep/variant/AllTraffic:policyName/wasync-ep-scale-out-from-zero",
)


def from_zero(state: str) -> AlarmState:
    return AlarmState(
        "wasync-ep-scale-out-from-zero",
        capacity.WITHOUT_CAPACITY,
        state,
        None,
        "",
        FROM_ZERO_ACTION,
    )


def activity(status: str, message: str = "") -> Activity:
    moment = dt.datetime.now(dt.timezone.utc)
    return Activity("Setting desired instance count to 1.", status, "cause", message, moment, None)


def test_no_warning_while_there_is_capacity_or_an_instance_is_on_its_way() -> None:
    assert capacity.diagnose(0, (from_zero("OK"),), None, True) == ()
    assert capacity.diagnose(3, (from_zero("ALARM"),), activity("InProgress"), True) == ()


def test_an_alarm_that_never_fired_is_named_with_its_state() -> None:
    [warning] = capacity.diagnose(5, (from_zero("OK"),), None, True)
    assert warning.startswith("backlog without capacity for 5 minutes, and the alarm has not fired")
    assert "wasync-ep-scale-out-from-zero is OK" in warning and "threshold" in warning


def test_missing_autoscaling_alarm_and_failed_scale_out_each_say_so() -> None:
    [off] = capacity.diagnose(1, (), None, False)
    assert off.startswith("backlog without capacity for 1 minute:") and "autoscaling is off" in off
    [no_alarm] = capacity.diagnose(2, (), None, True)
    assert "no alarm on HasBacklogWithoutCapacity" in no_alarm
    [failed] = capacity.diagnose(4, (from_zero("ALARM"),), activity("Failed", "boom"), True)
    assert failed.endswith("the last scale-out failed: boom")


def put_minutes(cloudwatch, values: list[float], seconds_per_minute: float) -> None:  # type: ignore[no-untyped-def]
    now = dt.datetime.now(dt.timezone.utc)
    for age, value in enumerate(reversed(values)):
        cloudwatch.put_metric_data(
            Namespace="AWS/SageMaker",
            MetricData=[
                {
                    "MetricName": capacity.WITHOUT_CAPACITY,
                    "Dimensions": [{"Name": "EndpointName", "Value": "ep"}],
                    "Timestamp": now - dt.timedelta(seconds=(age + 0.5) * seconds_per_minute),
                    "Value": value,
                }
            ],
        )


def test_minutes_without_capacity_counts_the_latest_unbroken_run(moto_clients) -> None:  # type: ignore[no-untyped-def]
    cloudwatch = moto_clients.client("cloudwatch")
    put_minutes(cloudwatch, [1, 1, 0, 1, 1, 1, 1], seconds_per_minute=60)
    assert capacity.minutes_without_capacity(moto_clients, "ep") == 4
    assert capacity.minutes_without_capacity(moto_clients, "other") == 0


def test_on_a_compressed_clock_each_second_is_a_minute(moto_clients) -> None:  # type: ignore[no-untyped-def]
    put_minutes(moto_clients.client("cloudwatch"), [0] + [1] * 6, seconds_per_minute=1)
    assert capacity.minutes_without_capacity(moto_clients, "ep", time_scale=60) == 6


def test_alarms_are_those_on_the_endpoints_metrics(moto_clients) -> None:  # type: ignore[no-untyped-def]
    cloudwatch = moto_clients.client("cloudwatch")
    for name, endpoint in (("mine", "ep"), ("theirs", "other")):
        cloudwatch.put_metric_alarm(
            AlarmName=name,
            Namespace="AWS/SageMaker",
            MetricName=capacity.WITHOUT_CAPACITY,
            Dimensions=[{"Name": "EndpointName", "Value": endpoint}],
            Statistic="Average",
            Period=60,
            EvaluationPeriods=2,
            Threshold=1,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
            AlarmActions=list(FROM_ZERO_ACTION),
        )
    [alarm] = capacity.endpoint_alarms(moto_clients, "ep")
    assert (alarm.name, alarm.metric, alarm.actions) == (
        "mine",
        capacity.WITHOUT_CAPACITY,
        FROM_ZERO_ACTION,
    )


def test_an_endpoint_made_again_under_its_name_shows_none_of_the_old_ones_minutes(
    moto_clients,
) -> None:  # type: ignore[no-untyped-def]
    """CloudWatch keys metrics by endpoint name: deleted and deployed again, the new endpoint
    must not report the old one's backlog as its own."""
    put_minutes(moto_clients.client("cloudwatch"), [1] * 7, seconds_per_minute=60)
    now = dt.datetime.now(dt.timezone.utc)
    assert capacity.minutes_without_capacity(moto_clients, "ep") == 7
    # made 150 s ago: two or three one-minute periods end after it, as the periods fall
    recent = capacity.minutes_without_capacity(
        moto_clients, "ep", since=now - dt.timedelta(seconds=150)
    )
    assert recent in (2, 3)
    assert capacity.minutes_without_capacity(moto_clients, "ep", since=now) <= 1


def test_a_scaling_activity_from_before_the_endpoint_was_made_is_not_shown(moto_clients) -> None:  # type: ignore[no-untyped-def]
    from whisper_async.local.motoscaling import ACTIVITIES

    resource = "endpoint/made-again/variant/AllTraffic"  # ACTIVITIES outlives the test
    started = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
    old = {
        "ActivityId": "old-scale-out",
        "ServiceNamespace": "sagemaker",
        "ResourceId": resource,
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
        "Description": "Setting desired instance count to 1.",
        "Cause": "alarm",
        "StartTime": started.timestamp(),
        "StatusCode": "Failed",
        "StatusMessage": "old endpoint's failure",
    }
    ACTIVITIES.save("123456789012", "us-east-1", old)
    shown = capacity.latest_activity(moto_clients, resource)
    assert shown is not None and shown.message == "old endpoint's failure"
    made_since = started + dt.timedelta(minutes=30)
    assert capacity.latest_activity(moto_clients, resource, since=made_since) is None
