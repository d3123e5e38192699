"""CloudWatch metric alarms, evaluated as CloudWatch evaluates them: pure functions.

An alarm looks at its last EvaluationPeriods periods; each period's datapoints are reduced by
the alarm's statistic to one value, compared with the threshold, and the alarm goes to ALARM
when at least DatapointsToAlarm of them breach. TreatMissingData says what an empty period
counts as: `breaching`, `notBreaching`, `ignore` (keep the state) or `missing` (the default:
left out; all of them missing is INSUFFICIENT_DATA). Where the periods present can neither
reach DatapointsToAlarm nor rule it out, the state is kept. Percentiles (ExtendedStatistic),
metric math and anomaly bands are not evaluated: such an alarm stays INSUFFICIENT_DATA and
its reason says why.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

OK, ALARM, INSUFFICIENT = "OK", "ALARM", "INSUFFICIENT_DATA"

COMPARISONS = {
    "GreaterThanOrEqualToThreshold": (lambda v, t: v >= t, "greater than or equal to"),
    "GreaterThanThreshold": (lambda v, t: v > t, "greater than"),
    "LessThanThreshold": (lambda v, t: v < t, "less than"),
    "LessThanOrEqualToThreshold": (lambda v, t: v <= t, "less than or equal to"),
}
STATISTICS = ("Average", "Sum", "Minimum", "Maximum", "SampleCount")


@dataclass(frozen=True)
class MetricId:
    namespace: str
    name: str
    dimensions: frozenset[tuple[str, str]]


@dataclass(frozen=True)
class AlarmSpec:
    """What evaluating one alarm needs, from DescribeAlarms' MetricAlarms."""

    name: str
    metric: MetricId | None  # None: a metric math alarm
    statistic: str | None  # None: a percentile (ExtendedStatistic)
    period: int  # AWS seconds
    evaluation_periods: int
    datapoints_to_alarm: int
    threshold: float
    comparison: str
    treat_missing: str
    actions_enabled: bool
    actions: Mapping[str, tuple[str, ...]]  # state -> the ARNs it invokes
    state: str

    @classmethod
    def from_api(cls, alarm: Mapping[str, Any]) -> AlarmSpec:
        metric = None
        if alarm.get("MetricName") and not alarm.get("Metrics"):
            dimensions = frozenset((d["Name"], d["Value"]) for d in alarm.get("Dimensions", []))
            metric = MetricId(alarm.get("Namespace", ""), alarm["MetricName"], dimensions)
        periods = int(alarm.get("EvaluationPeriods") or 1)
        return cls(
            name=alarm["AlarmName"],
            metric=metric,
            statistic=alarm.get("Statistic"),
            period=int(alarm.get("Period") or 60),
            evaluation_periods=periods,
            datapoints_to_alarm=int(alarm.get("DatapointsToAlarm") or periods),
            threshold=float(alarm.get("Threshold") or 0.0),
            comparison=alarm.get("ComparisonOperator", ""),
            treat_missing=alarm.get("TreatMissingData") or "missing",
            actions_enabled=bool(alarm.get("ActionsEnabled", True)),
            actions={
                ALARM: tuple(alarm.get("AlarmActions") or ()),
                OK: tuple(alarm.get("OKActions") or ()),
                INSUFFICIENT: tuple(alarm.get("InsufficientDataActions") or ()),
            },
            state=alarm.get("StateValue", INSUFFICIENT),
        )

    def unsupported(self) -> str | None:
        """Why the stack cannot evaluate this alarm, or None."""
        if self.metric is None:
            return "the local stack does not evaluate metric math alarms"
        if self.statistic not in STATISTICS:
            return "the local stack does not evaluate percentiles (ExtendedStatistic)"
        if self.comparison not in COMPARISONS:
            return f"the local stack does not evaluate {self.comparison or 'this comparison'}"
        return None


@dataclass(frozen=True)
class Period:
    start: float  # stack seconds since the epoch
    samples: int
    value: float | None  # the statistic of its datapoints; None when it had none


@dataclass(frozen=True)
class Evaluation:
    state: str
    reason: str
    reason_data: str  # JSON, as CloudWatch's StateReasonData
    periods: tuple[Period, ...]

    @property
    def values(self) -> list[float]:
        return [p.value for p in self.periods if p.value is not None]


def statistic(name: str, values: Sequence[float]) -> float | None:
    if not values:
        return None
    if name == "Average":
        return sum(values) / len(values)
    if name == "Sum":
        return float(sum(values))
    if name == "Minimum":
        return float(min(values))
    if name == "Maximum":
        return float(max(values))
    return float(len(values))  # SampleCount


def periods(
    spec: AlarmSpec, points: Sequence[tuple[float, float]], end: float, period_seconds: float
) -> tuple[Period, ...]:
    """The alarm's last EvaluationPeriods periods, oldest first, the last one ending at `end`
    (all in stack seconds; `period_seconds` is the alarm's Period on the stack's clock)."""
    assert spec.statistic is not None
    found = []
    for index in range(spec.evaluation_periods, 0, -1):
        start = end - index * period_seconds
        values = [v for t, v in points if start <= t < start + period_seconds]
        found.append(Period(start, len(values), statistic(spec.statistic, values)))
    return tuple(found)


def evaluate(
    spec: AlarmSpec, points: Sequence[tuple[float, float]], end: float, period_seconds: float
) -> Evaluation:
    """The alarm's state at `end`, with CloudWatch's reason and reason data."""
    why_not = spec.unsupported()
    if why_not:
        return Evaluation(INSUFFICIENT, why_not, "{}", ())
    evaluated = periods(spec, points, end, period_seconds)
    breaches, describe = COMPARISONS[spec.comparison]
    missing = sum(p.value is None for p in evaluated)
    breaching = sum(p.value is not None and breaches(p.value, spec.threshold) for p in evaluated)
    if spec.treat_missing == "breaching":
        breaching, missing = breaching + missing, 0
    elif spec.treat_missing == "notBreaching":
        missing = 0
    total, needed = len(evaluated), spec.datapoints_to_alarm
    if missing == total:
        state = spec.state if spec.treat_missing == "ignore" else INSUFFICIENT
    elif breaching >= needed:
        state = ALARM
    elif breaching + missing < needed:
        state = OK
    else:
        state = spec.state  # the periods present decide nothing yet
    shown = [p for p in evaluated if p.value is not None]
    listed = ", ".join(f"{p.value:g} ({_stamp(p.start)})" for p in reversed(shown))
    if state == ALARM:
        reason = (
            f"Threshold Crossed: {breaching} out of the last {total} datapoints [{listed}] were "
            f"{describe} the threshold ({spec.threshold:g}) (minimum {needed} datapoints for "
            "OK -> ALARM transition)."
        )
    elif state == OK:
        reason = (
            f"Threshold Crossed: {total - breaching} out of the last {total} datapoints "
            f"[{listed}] were not {describe} the threshold ({spec.threshold:g}) (fewer than "
            f"{needed} breaching datapoints for ALARM)."
        )
    else:
        reason = f"Insufficient Data: {missing} of the last {total} datapoints were missing."
    data = {
        "version": "1.0",
        "queryDate": _iso(end),
        "startDate": _iso(evaluated[0].start),
        "statistic": spec.statistic,
        "period": spec.period,
        "recentDatapoints": [p.value for p in shown],
        "threshold": spec.threshold,
        "evaluatedDatapoints": [
            {"timestamp": _iso(p.start), "sampleCount": float(p.samples), "value": p.value}
            for p in reversed(shown)
        ],
    }
    return Evaluation(state, reason, json.dumps(data), evaluated)


def _moment(timestamp: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp, dt.timezone.utc)


def _stamp(timestamp: float) -> str:
    return _moment(timestamp).strftime("%d/%m/%y %H:%M:%S")


def _iso(timestamp: float) -> str:
    return _moment(timestamp).isoformat(timespec="milliseconds").replace("+00:00", "Z")
