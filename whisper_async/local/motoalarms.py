"""moto's CloudWatch alarms, taught two things CloudWatch does (`install()`):

- A new alarm starts in INSUFFICIENT_DATA ("Unchecked: Initial alarm creation") until its
  first evaluation; moto starts it in OK, and `wasync status` said "OK for 9 min" of an alarm
  that had never looked at a datapoint. PutMetricAlarm on an existing alarm keeps its state
  and history, as CloudWatch's does; moto replaced both.
- DescribeAlarmHistory, which moto lacks (the call failed with a 500). moto keeps each alarm's
  earlier states (`Alarm.history`, one entry per SetAlarmState); with the state it is in now
  they give its state changes, shown as CloudWatch shows them: `StateUpdate` items, "Alarm
  updated from OK to ALARM", HistoryData as JSON with the old and new state. Its creation and
  each update are `ConfigurationUpdate` items. History goes with the alarm when it is deleted
  (CloudWatch keeps it two weeks): the stack has no store of its own for it.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Iterable
from typing import Any, NamedTuple

from .pages import BadPageToken, aware, page_of, request_seconds

STATE_UPDATE, CONFIGURATION_UPDATE = "StateUpdate", "ConfigurationUpdate"
CREATED, UPDATED = "created", "updated"
CHANGE_TYPES = {CREATED: "Create", UPDATED: "Update"}
CHANGES = "wasync_changes"  # on a moto alarm: its (created/updated, when), oldest first
# DescribeAlarmHistory's enums and bound, which CloudWatch checks
ITEM_TYPES = (
    CONFIGURATION_UPDATE,
    STATE_UPDATE,
    "Action",
    "AlarmContributorStateUpdate",
    "AlarmContributorAction",
)
SCAN_ORDERS = ("TimestampDescending", "TimestampAscending")
ALARM_TYPES = ("CompositeAlarm", "MetricAlarm")
INSUFFICIENT_DATA = "INSUFFICIENT_DATA"
MOST_RECORDS = 100  # CloudWatch's MaxRecords bound


class State(NamedTuple):
    value: str
    reason: str
    reason_data: str
    since: dt.datetime


def _states(alarm: Any) -> list[State]:
    """The alarm's states, oldest first; moto records a state when it is left."""
    earlier = [
        State(value, reason, reason_data or "{}", aware(since))
        for kind, reason, reason_data, value, since in alarm.history
        if kind == STATE_UPDATE
    ]
    now = State(
        alarm.state_value,
        alarm.state_reason,
        alarm.state_reason_data or "{}",
        aware(alarm.state_updated_timestamp),
    )
    return [*earlier, now]


def _shown(state: State) -> dict[str, Any]:
    shown: dict[str, Any] = {"stateValue": state.value, "stateReason": state.reason}
    if state.reason_data not in ("", "{}"):
        shown["stateReasonData"] = json.loads(state.reason_data)
    return shown


def items_of(alarm: Any) -> list[dict[str, Any]]:
    """Every history item of one moto alarm, oldest first."""
    kind = "CompositeAlarm" if getattr(alarm, "rule", None) else "MetricAlarm"
    base = {"AlarmName": alarm.name, "AlarmType": kind}
    states = _states(alarm)
    changes = getattr(alarm, CHANGES, None) or [(CREATED, alarm.configuration_updated_timestamp)]
    found = [
        {
            **base,
            "Timestamp": aware(when),
            "HistoryItemType": CONFIGURATION_UPDATE,
            "HistorySummary": f'Alarm "{alarm.name}" {change}',
            "HistoryData": json.dumps({"type": CHANGE_TYPES[change], "version": "1.0"}),
        }
        for change, when in changes
    ]
    for old, new in itertools.pairwise(states):
        data = {"version": "1.0", "oldState": _shown(old), "newState": _shown(new)}
        found.append(
            {
                **base,
                "Timestamp": new.since,
                "HistoryItemType": STATE_UPDATE,
                "HistorySummary": f"Alarm updated from {old.value} to {new.value}",
                "HistoryData": json.dumps(data),
            }
        )
    # stable: an item made in the same microsecond as another keeps its place (creation first)
    return sorted(found, key=lambda item: item["Timestamp"])


def _moment(value: Any) -> dt.datetime | None:
    if value is None or value == "":
        return None
    return dt.datetime.fromtimestamp(request_seconds(value), dt.timezone.utc)


class HistoryQuery(NamedTuple):
    name: str | None
    types: tuple[str, ...]  # AlarmTypes; empty: MetricAlarm only, as CloudWatch does
    item_type: str | None
    start: dt.datetime | None
    end: dt.datetime | None
    ascending: bool

    def select(self, alarms: Iterable[Any]) -> list[dict[str, Any]]:
        types = self.types or ("MetricAlarm",)
        found = [
            item
            for alarm in alarms
            if self.name in (None, alarm.name)
            for item in items_of(alarm)
            if item["AlarmType"] in types
            and self.item_type in (None, item["HistoryItemType"])
            and (self.start is None or item["Timestamp"] >= self.start)
            and (self.end is None or item["Timestamp"] <= self.end)
        ]
        oldest_first = sorted(found, key=lambda item: item["Timestamp"])
        # the exact reverse, ties too (reverse=True keeps tied items in their order)
        return oldest_first if self.ascending else oldest_first[::-1]


def _checked(name: str, value: Any, allowed: tuple[str, ...]) -> Any:
    from moto.cloudwatch.exceptions import ValidationError

    if value not in (None, "", *allowed):
        raise ValidationError(
            f"1 validation error detected: Value '{value}' at '{name}' failed to satisfy "
            f"constraint: Member must satisfy enum value set: [{', '.join(allowed)}]"
        )
    return value


def _describe_alarm_history(self: Any) -> Any:
    from moto.cloudwatch.exceptions import InvalidParameterValue, ValidationError
    from moto.core.responses import ActionResult

    _checked("historyItemType", self._get_param("HistoryItemType"), ITEM_TYPES)
    _checked("scanBy", self._get_param("ScanBy"), SCAN_ORDERS)
    for kind in self._get_param("AlarmTypes") or ():
        _checked("alarmTypes", kind, ALARM_TYPES)
    records = self._get_param("MaxRecords")
    if records is not None and not 1 <= int(records) <= MOST_RECORDS:
        raise ValidationError(
            f"1 validation error detected: Value '{records}' at 'maxRecords' failed to satisfy "
            f"constraint: Member must have value between 1 and {MOST_RECORDS}"
        )
    query = HistoryQuery(
        self._get_param("AlarmName") or None,
        tuple(self._get_param("AlarmTypes") or ()),
        self._get_param("HistoryItemType") or None,
        _moment(self._get_param("StartDate")),
        _moment(self._get_param("EndDate")),
        self._get_param("ScanBy") == "TimestampAscending",
    )
    found = query.select(self.cloudwatch_backend.alarms.values())
    size = int(records or MOST_RECORDS)
    try:
        page, token = page_of(found, self._get_param("NextToken"), size)
    except BadPageToken as refused:
        raise InvalidParameterValue(str(refused)) from None
    body: dict[str, Any] = {"AlarmHistoryItems": page}
    if token is not None:
        body["NextToken"] = token
    return ActionResult(body)


def serve_alarm_history() -> None:
    """Add DescribeAlarmHistory to moto's CloudWatch in this process."""
    from moto.cloudwatch.responses import CloudWatchResponse

    CloudWatchResponse.describe_alarm_history = _describe_alarm_history  # type: ignore[attr-defined]  # moto lacks this operation


KEPT_ON_UPDATE = ("state_value", "state_reason", "state_reason_data", "state_updated_timestamp")


def install() -> None:
    """Both of the above, in this process's moto (the stack's daemon calls it once)."""
    from moto.cloudwatch.models import CloudWatchBackend

    serve_alarm_history()
    put_alarm = CloudWatchBackend.put_metric_alarm
    if getattr(put_alarm, "wasync_wrapped", False):
        return

    def as_cloudwatch_does(backend: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        earlier = backend.alarms.get(name)
        alarm = put_alarm(backend, name, *args, **kwargs)
        now = alarm.configuration_updated_timestamp
        if earlier is None:
            alarm.state_value = INSUFFICIENT_DATA
            setattr(alarm, CHANGES, [(CREATED, now)])
        else:
            for field in KEPT_ON_UPDATE:
                setattr(alarm, field, getattr(earlier, field))
            alarm.history = earlier.history
            before = getattr(earlier, CHANGES, None) or [
                (CREATED, earlier.configuration_updated_timestamp)
            ]
            setattr(alarm, CHANGES, [*before, (UPDATED, now)])
        return alarm

    as_cloudwatch_does.wasync_wrapped = True  # type: ignore[attr-defined]  # marks the wrapper
    CloudWatchBackend.put_metric_alarm = as_cloudwatch_does  # type: ignore[method-assign,assignment]  # moto's method, wrapped
