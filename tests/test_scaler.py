"""The local stack's autoscaling decisions: alarm evaluation, target tracking and step
scaling arithmetic, cooldowns, MinCapacity/MaxCapacity, and the scaler that ties them together.

Unit tests: a fake clock (each `tick(now)` is one AWS minute on a 60x stack clock), fake
metrics and a fake endpoint, so every decision is checked minute by minute.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from whisper_async.local import alarms, policies
from whisper_async.local.alarms import AlarmSpec, Evaluation, MetricId
from whisper_async.local.motoscaling import HIGH_ALARM, LOW_ALARM, AlarmKind
from whisper_async.local.policies import Policy, Proposal, ScalableTarget
from whisper_async.local.scaler import (
    Activity,
    CapacityRefused,
    Scaler,
    VariantCapacity,
    policy_key,
)
from whisper_async.local.timescale import TimeScale

SCALE = TimeScale(60)  # one AWS minute per stack second: tick(n) is minute n
RESOURCE = "endpoint/ep/variant/AllTraffic"
DIMENSIONS = frozenset({("EndpointName", "ep")})
BACKLOG = MetricId("AWS/SageMaker", "ApproximateBacklogSizePerInstance", DIMENSIONS)
WITHOUT_CAPACITY = MetricId("AWS/SageMaker", "HasBacklogWithoutCapacity", DIMENSIONS)


def arn(policy: str) -> str:
    return (
        "arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:0b0e:"
        f"resource/sagemaker/{RESOURCE}:policyName/{policy}"
    )


def alarm(metric: MetricId, **overrides: Any) -> AlarmSpec:
    described = {
        "AlarmName": "a",
        "Namespace": metric.namespace,
        "MetricName": metric.name,
        "Dimensions": [{"Name": k, "Value": v} for k, v in metric.dimensions],
        "Statistic": "Average",
        "Period": 60,
        "EvaluationPeriods": 2,
        "DatapointsToAlarm": 2,
        "Threshold": 1.0,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "StateValue": "OK",
        **overrides,
    }
    return AlarmSpec.from_api(described)


# ---- alarms --------------------------------------------------------------------------------
def test_each_period_is_reduced_by_the_alarms_statistic() -> None:
    points = [(0.1, 1.0), (0.5, 3.0), (1.2, 5.0)]
    for statistic, expected in [
        ("Average", [2.0, 5.0]),
        ("Sum", [4.0, 5.0]),
        ("Minimum", [1.0, 5.0]),
        ("Maximum", [3.0, 5.0]),
        ("SampleCount", [2.0, 1.0]),
    ]:
        spec = alarm(WITHOUT_CAPACITY, Statistic=statistic)
        assert [p.value for p in alarms.periods(spec, points, 2.0, 1.0)] == expected


def test_alarm_fires_only_when_enough_periods_breach() -> None:
    two_of_three = alarm(WITHOUT_CAPACITY, EvaluationPeriods=3, DatapointsToAlarm=2)
    assert alarms.evaluate(two_of_three, [(0.5, 1), (1.5, 0), (2.5, 1)], 3, 1).state == "ALARM"
    assert alarms.evaluate(two_of_three, [(0.5, 0), (1.5, 0), (2.5, 1)], 3, 1).state == "OK"


def test_missing_data_follows_treat_missing_data() -> None:
    spec = alarm(WITHOUT_CAPACITY, StateValue="OK")
    one_point = [(1.5, 1.0)]  # the older of the two periods is empty
    assert alarms.evaluate(spec, [], 2, 1).state == "INSUFFICIENT_DATA"
    assert alarms.evaluate(spec, one_point, 2, 1).state == "OK"  # undecided: state kept
    breaching = replace(spec, treat_missing="breaching")
    assert alarms.evaluate(breaching, one_point, 2, 1).state == "ALARM"
    not_breaching = replace(spec, treat_missing="notBreaching", state="ALARM")
    assert alarms.evaluate(not_breaching, one_point, 2, 1).state == "OK"
    ignore = replace(spec, treat_missing="ignore", state="ALARM")
    assert alarms.evaluate(ignore, [], 2, 1).state == "ALARM"


def test_alarm_reason_names_the_datapoints_and_threshold_as_cloudwatch_does() -> None:
    evaluation = alarms.evaluate(alarm(WITHOUT_CAPACITY), [(0.5, 1.0), (1.5, 1.0)], 2, 1)
    assert evaluation.reason.startswith("Threshold Crossed: 2 out of the last 2 datapoints [1 (")
    assert "greater than or equal to the threshold (1)" in evaluation.reason
    data = json.loads(evaluation.reason_data)
    assert data["recentDatapoints"] == [1.0, 1.0] and data["threshold"] == 1.0


def test_percentile_and_metric_math_alarms_stay_insufficient_with_a_reason() -> None:
    percentile = alarm(WITHOUT_CAPACITY, Statistic=None, ExtendedStatistic="p90")
    assert alarms.evaluate(percentile, [(0.5, 1)], 1, 1).state == "INSUFFICIENT_DATA"
    assert "percentiles" in alarms.evaluate(percentile, [], 1, 1).reason
    math_alarm = AlarmSpec.from_api({"AlarmName": "m", "Metrics": [{"Id": "e1"}]})
    assert "metric math" in alarms.evaluate(math_alarm, [], 1, 1).reason


# ---- policy arithmetic -----------------------------------------------------------------------
def test_target_tracking_asks_for_the_capacity_that_meets_the_target() -> None:
    assert policies.target_tracking(1, 6.0, 2.0) == 3
    assert policies.target_tracking(3, 2.0, 2.0) == 3  # at the target: no change
    assert policies.target_tracking(3, 0.5, 2.0) == 1
    assert policies.target_tracking(2, 0.0, 2.0) == 0
    assert policies.target_tracking(0, 50.0, 2.0) == 0  # nothing to multiply: step policy's job


def test_step_scaling_picks_the_interval_that_holds_the_breach() -> None:
    config = {
        "AdjustmentType": "ChangeInCapacity",
        "StepAdjustments": [
            {
                "MetricIntervalLowerBound": 0.0,
                "MetricIntervalUpperBound": 5.0,
                "ScalingAdjustment": 1,
            },
            {"MetricIntervalLowerBound": 5.0, "ScalingAdjustment": 3},
        ],
    }
    assert policies.step(config, 0, 1.0, 1.0) == 1  # breach 0: lower bound inclusive
    assert policies.step(config, 0, 6.0, 1.0) == 3  # breach 5: the second step
    assert policies.step(config, 0, 0.5, 1.0) is None  # below the threshold: no step


def test_percent_change_rounds_as_aws_does_and_honours_min_adjustment_magnitude() -> None:
    percent = {"AdjustmentType": "PercentChangeInCapacity"}
    assert policies.adjusted(percent, 10, 25) == 12  # +2.5 -> 2
    assert policies.adjusted(percent, 2, 10) == 3  # +0.2 -> 1
    assert policies.adjusted(percent, 10, -25) == 8  # -2.5 -> -2
    assert policies.adjusted(percent, 2, -10) == 1  # -0.2 -> -1
    assert policies.adjusted({**percent, "MinAdjustmentMagnitude": 3}, 10, 10) == 13
    assert policies.adjusted({"AdjustmentType": "ExactCapacity"}, 7, 2) == 2


def test_a_scale_out_beats_any_scale_in_and_the_range_clamps_it() -> None:
    target = ScalableTarget(RESOURCE, 0, 3)
    grow, shrink = Policy("grow", RESOURCE, "StepScaling", {}), Policy("t", RESOURCE, "x", {})
    proposals = [
        Proposal(shrink, 0, False, "low"),
        Proposal(grow, 2, True, "step"),
        Proposal(grow, 9, True, "big"),
    ]
    chosen = policies.decide(target, 1, proposals)
    assert chosen is not None and (chosen.capacity, chosen.cause) == (3, "big")
    assert policies.decide(target, 3, proposals) is None  # already at the maximum
    suspended = replace(target, scale_out_suspended=True)
    assert (policies.decide(suspended, 1, proposals) or proposals[1]).capacity == 0


def test_policy_arns_resolve_to_resource_and_name_with_or_without_created_by() -> None:
    assert policy_key(arn("p")) == (RESOURCE, "p")
    assert policy_key(arn("p") + ":createdBy/1234") == (RESOURCE, "p")
    assert policy_key("arn:aws:sns:us-east-1:123456789012:topic") is None


# ---- the scaler ------------------------------------------------------------------------------
@dataclass
class FakeView:
    targets_: list[ScalableTarget]
    policies_: list[Policy]
    alarms_: dict[str, AlarmSpec]
    metrics: dict[MetricId, list[tuple[float, float]]] = field(default_factory=dict)
    activities: dict[str, dict[str, Any]] = field(default_factory=dict)
    state_changes: list[tuple[str, str]] = field(default_factory=list)

    def targets(self) -> list[ScalableTarget]:
        return list(self.targets_)

    def policies(self) -> list[Policy]:
        return list(self.policies_)

    def alarms(self) -> list[AlarmSpec]:
        return list(self.alarms_.values())

    def datapoints(self, metric: MetricId, start: float, end: float) -> list[tuple[float, float]]:
        return [(t, v) for t, v in self.metrics.get(metric, []) if start <= t < end]

    def set_alarm_state(self, name: str, evaluation: Evaluation) -> None:
        self.alarms_[name] = replace(self.alarms_[name], state=evaluation.state)
        self.state_changes.append((name, evaluation.state))

    def save_activity(self, activity: Activity) -> None:
        self.activities[activity.activity_id] = activity.to_api()

    def history(self) -> list[tuple[str, str]]:
        """(description, status) of every activity, oldest first."""
        found = sorted(self.activities.values(), key=lambda a: a["StartTime"])
        return [(a["Description"], a["StatusCode"]) for a in found]


@dataclass
class FakeEndpoint:
    """A SageMaker endpoint variant that resizes when `finish()` says so."""

    desired: int = 1
    current: int = 1
    status: str = "InService"
    refuse: str | None = None
    failure_reason: str | None = None
    created: float = 0.0

    def variant(self, endpoint: str, variant: str) -> VariantCapacity | None:
        if (endpoint, variant) != ("ep", "AllTraffic"):
            return None
        return VariantCapacity(
            self.status, self.desired, self.current, self.failure_reason, self.created
        )

    def set_desired(self, endpoint: str, variant: str, count: int) -> None:
        if self.refuse:
            raise CapacityRefused(self.refuse)
        self.desired, self.status = count, "Updating"

    def finish(self) -> None:
        self.current, self.status = self.desired, "InService"


def tracking_alarm(kind: AlarmKind, target: float, policy: str) -> AlarmSpec:
    return alarm(
        BACKLOG,
        AlarmName=kind.label,
        EvaluationPeriods=kind.periods,
        DatapointsToAlarm=kind.periods,
        Threshold=target * kind.ratio,
        ComparisonOperator=kind.comparison,
        AlarmActions=[arn(policy) + ":createdBy/x"],
        StateValue="INSUFFICIENT_DATA",
    )


@dataclass
class Setup:
    view: FakeView
    endpoint: FakeEndpoint
    scaler: Scaler
    minute: int = 0

    def run(self, minutes: int, backlog: float, without_capacity: float = 0.0) -> None:
        """`minutes` AWS minutes with these metrics, one datapoint per minute, a tick each."""
        for _ in range(minutes):
            stamp = self.minute + 0.5
            self.view.metrics.setdefault(BACKLOG, []).append((stamp, backlog))
            self.view.metrics.setdefault(WITHOUT_CAPACITY, []).append((stamp, without_capacity))
            self.minute += 1
            self.scaler.tick(float(self.minute))

    def settle(self) -> None:
        """The endpoint finishes resizing; the scaler sees it at its next minute."""
        self.endpoint.finish()


def scaler_setup(
    min_capacity: int = 0,
    max_capacity: int = 3,
    target: float = 2.0,
    scale_in_cooldown: int = 600,
    scale_out_cooldown: int = 60,
    desired: int = 1,
    step_alarm: dict[str, Any] | None = None,
) -> Setup:
    tracking = Policy(
        "tracking",
        RESOURCE,
        "TargetTrackingScaling",
        {
            "TargetValue": target,
            "ScaleInCooldown": scale_in_cooldown,
            "ScaleOutCooldown": scale_out_cooldown,
        },
    )
    stepping = Policy(
        "from-zero",
        RESOURCE,
        "StepScaling",
        {
            "AdjustmentType": "ChangeInCapacity",
            "Cooldown": scale_out_cooldown,
            "StepAdjustments": [{"MetricIntervalLowerBound": 0.0, "ScalingAdjustment": 1}],
        },
    )
    found = {
        "high": tracking_alarm(HIGH_ALARM, target, "tracking"),
        "low": tracking_alarm(LOW_ALARM, target, "tracking"),
        "zero": alarm(
            WITHOUT_CAPACITY,
            AlarmName="zero",
            AlarmActions=[arn("from-zero")],
            **(step_alarm or {}),
        ),
    }
    found["high"] = replace(found["high"], name="high")
    found["low"] = replace(found["low"], name="low")
    view = FakeView(
        [ScalableTarget(RESOURCE, min_capacity, max_capacity)], [tracking, stepping], found
    )
    endpoint = FakeEndpoint(desired=desired, current=desired)
    return Setup(view, endpoint, Scaler(view, endpoint, SCALE))


@pytest.fixture
def setup() -> Iterator[Setup]:
    yield scaler_setup()


def test_an_idle_endpoint_scales_in_only_after_15_quiet_minutes(setup: Setup) -> None:
    setup.run(14, backlog=0.0)
    assert setup.endpoint.desired == 1 and setup.view.history() == []
    setup.run(1, backlog=0.0)
    assert setup.endpoint.desired == 0
    assert setup.view.history() == [("Setting desired instance count to 0.", "InProgress")]
    setup.settle()
    setup.run(1, backlog=0.0)
    assert setup.view.history() == [("Setting desired instance count to 0.", "Successful")]


def test_work_at_zero_is_picked_up_by_the_step_policy_within_two_alarm_periods() -> None:
    setup = scaler_setup(desired=0)
    setup.run(1, backlog=1.0, without_capacity=1.0)
    assert setup.endpoint.desired == 0  # one breaching minute of the two
    setup.run(1, backlog=1.0, without_capacity=1.0)
    assert setup.endpoint.desired == 1 and setup.endpoint.status == "Updating"
    activity = next(iter(setup.view.activities.values()))
    assert activity["Cause"] == "monitor alarm zero in state ALARM triggered policy from-zero"
    assert activity["StartTime"] == 2.0  # minute 2: two periods after the invoke


def test_a_burst_scales_out_fast_to_the_maximum_and_no_further() -> None:
    setup = scaler_setup(desired=1)
    setup.run(2, backlog=30.0)
    assert setup.endpoint.desired == 1  # the high alarm needs 3 of 3 minutes
    setup.run(1, backlog=30.0)
    assert setup.endpoint.desired == 3  # ceil(1 x 30 / 2) = 15, clamped to MaxCapacity 3
    setup.settle()
    setup.run(5, backlog=30.0)
    assert setup.endpoint.desired == 3
    assert [d for d, _ in setup.view.history()] == ["Setting desired instance count to 3."]


def test_scale_in_waits_for_the_cooldown_after_a_scale_in() -> None:
    setup = scaler_setup(desired=3, scale_in_cooldown=600)
    setup.run(15, backlog=0.5)  # ceil(3 x 0.5 / 2) = 1
    assert setup.endpoint.desired == 1
    setup.settle()
    setup.run(1, backlog=0.0)  # the activity completes at this minute: the cooldown starts
    setup.run(9, backlog=0.0)
    assert setup.endpoint.desired == 1  # 10 minutes of cooldown still running
    setup.run(1, backlog=0.0)
    assert setup.endpoint.desired == 0


def test_a_scale_out_during_a_scale_in_cooldown_goes_ahead_at_once() -> None:
    setup = scaler_setup(desired=3, scale_in_cooldown=3600)
    setup.run(15, backlog=0.5)
    setup.settle()
    setup.run(1, backlog=0.5)
    setup.run(3, backlog=10.0)
    assert setup.endpoint.desired == 3


def test_the_step_policy_retries_a_failed_scale_out_and_then_waits_its_cooldown() -> None:
    setup = scaler_setup(desired=0, scale_out_cooldown=180)
    setup.run(2, backlog=1.0, without_capacity=1.0)
    assert setup.endpoint.desired == 1
    # The instance never came up: the endpoint keeps what serves and says why.
    setup.endpoint.desired, setup.endpoint.status = 0, "InService"
    setup.endpoint.failure_reason = "Scaling to 1 instances failed: the container exited"
    setup.run(1, backlog=1.0, without_capacity=1.0)
    failed, retried = setup.view.history()[-2:]
    assert failed == ("Setting desired instance count to 1.", "Failed")
    assert retried == ("Setting desired instance count to 1.", "InProgress")  # no cooldown
    setup.settle()
    setup.run(1, backlog=1.0, without_capacity=1.0)  # succeeded: 3 minutes of cooldown start
    setup.run(2, backlog=1.0, without_capacity=1.0)
    assert setup.endpoint.desired == 1
    setup.run(1, backlog=1.0, without_capacity=1.0)
    assert setup.endpoint.desired == 2


def test_nothing_scales_while_an_activity_is_in_progress() -> None:
    setup = scaler_setup(desired=1)
    setup.run(3, backlog=30.0)
    assert setup.endpoint.desired == 3
    setup.endpoint.desired = 3  # still Updating: instances starting
    setup.run(20, backlog=0.0)
    assert setup.endpoint.desired == 3 and len(setup.view.activities) == 1


def test_an_activity_on_a_deleted_endpoint_fails_though_a_new_one_has_its_name() -> None:
    setup = scaler_setup(desired=0)
    setup.run(2, backlog=1.0, without_capacity=1.0)
    assert setup.endpoint.desired == 1 and setup.endpoint.status == "Updating"
    # Deleted while it started, and deployed again: one instance, as the activity wanted.
    setup.endpoint.created, setup.endpoint.status, setup.endpoint.current = 5.0, "InService", 1
    setup.run(1, backlog=0.0)
    activity = next(iter(setup.view.activities.values()))
    assert (activity["StatusCode"], activity["StatusMessage"]) == (
        "Failed",
        "Endpoint ep no longer exists.",
    )


def test_a_refused_change_is_recorded_as_failed_with_the_reason() -> None:
    setup = scaler_setup(desired=1)
    setup.endpoint.refuse = "Cannot update in-progress endpoint"
    setup.run(3, backlog=30.0)
    activity = next(iter(setup.view.activities.values()))
    assert activity["StatusCode"] == "Failed"
    assert activity["StatusMessage"] == (
        "Failed to set desired instance count to 3. Reason: Cannot update in-progress endpoint"
    )


def test_a_new_minimum_is_applied_at_once_and_the_maximum_caps_every_policy() -> None:
    setup = scaler_setup(desired=0)
    setup.run(1, backlog=0.0)
    setup.view.targets_ = [ScalableTarget(RESOURCE, 2, 3)]
    setup.run(1, backlog=0.0)
    assert setup.endpoint.desired == 2
    assert next(iter(setup.view.activities.values()))["Cause"] == "minimum capacity was set to 2"
    setup.settle()
    setup.run(30, backlog=0.0)
    assert setup.endpoint.desired == 2  # the low alarm cannot go below MinCapacity


def test_a_threshold_that_never_fires_leaves_the_endpoint_at_zero_with_work_queued() -> None:
    setup = scaler_setup(desired=0, step_alarm={"Threshold": 2.0})  # the metric is 0 or 1
    setup.run(60, backlog=5.0, without_capacity=1.0)
    assert setup.endpoint.desired == 0 and setup.view.activities == {}
    assert setup.view.alarms_["zero"].state == "OK"


def test_alarm_states_are_stored_only_when_they_change(setup: Setup) -> None:
    setup.run(20, backlog=0.0)
    assert setup.view.state_changes.count(("low", "ALARM")) == 1
    assert ("zero", "OK") not in setup.view.state_changes  # it started OK and stayed OK


# ---- the minute clock ------------------------------------------------------------------------
def test_each_minute_every_endpoint_publishes_before_the_scaler_looks() -> None:
    import threading

    from whisper_async.local.autoscaling import MinuteClock

    events: list[tuple[str, float]] = []

    @dataclass
    class Publisher:
        name: str

        def publish_metrics(self, timestamp: float) -> None:
            events.append((self.name, timestamp))

    class Recorder:
        def tick(self, now: float) -> None:
            events.append(("scaler", now))

    now = [100.2]
    clock = MinuteClock(SCALE, lambda: [Publisher("a"), Publisher("b")], Recorder(), lambda: now[0])  # type: ignore[arg-type]
    clock.tick(101.0)
    assert events == [("a", 100.5), ("b", 100.5), ("scaler", 101.0)]

    events.clear()
    stop = threading.Event()

    class StopAfterThree(Recorder):
        def tick(self, now_: float) -> None:
            super().tick(now_)
            if len([e for e in events if e[0] == "scaler"]) == 3:
                stop.set()

    readings = iter([200.5])  # then the machine stalls: the clock reads 203.2 from now on

    def stalled() -> float:
        return next(readings, 203.2)

    late = MinuteClock(SCALE, lambda: [], StopAfterThree(), stalled)  # type: ignore[arg-type]
    late.run(stop)
    assert [t for _, t in events] == [201.0, 202.0, 203.0]  # each missed minute, in order


def test_a_backfilled_old_datapoint_hides_none_sent_before_it(moto_clients) -> None:  # type: ignore[no-untyped-def]
    """A client may put an hour-old datapoint late; the alarms still see the minutes before."""
    import datetime as dt

    from tests.helpers.metrics import put_backlog
    from whisper_async.local.alarms import MetricId
    from whisper_async.local.motoscaling import MotoScalingView

    cloudwatch = moto_clients.client("cloudwatch")
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)

    put_backlog(cloudwatch, 3.0, now - dt.timedelta(minutes=2))
    put_backlog(cloudwatch, 9.0, now - dt.timedelta(hours=1))  # the backfill, sent last
    view = MotoScalingView(moto_clients.client, "123456789012", moto_clients.region)
    metric = MetricId(
        "AWS/SageMaker", "ApproximateBacklogSize", frozenset({("EndpointName", "whisper")})
    )
    start = (now - dt.timedelta(minutes=5)).timestamp()
    assert view.datapoints(metric, start, now.timestamp()) == [
        ((now - dt.timedelta(minutes=2)).timestamp(), 3.0)
    ]
