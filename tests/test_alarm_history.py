"""The local stack's moto alarms: DescribeAlarmHistory (moto alone answers it with a 500), the
state a new or updated alarm is in, and the NextToken of the listings the stack adds to moto."""

from __future__ import annotations

import json
from typing import Any

import pytest

from whisper_async.errors import AwsError
from whisper_async.local import motoalarms
from whisper_async.local.motoalarms import serve_alarm_history


@pytest.fixture
def cloudwatch(moto_clients: Any) -> Any:
    serve_alarm_history()
    client = moto_clients.client("cloudwatch")
    client.put_metric_alarm(
        AlarmName="backlog",
        Namespace="AWS/SageMaker",
        MetricName="ApproximateBacklogSize",
        Statistic="Average",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1.0,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    data = json.dumps({"recentDatapoints": [3.0]})
    client.set_alarm_state(
        AlarmName="backlog", StateValue="ALARM", StateReason="breached", StateReasonData=data
    )
    client.set_alarm_state(AlarmName="backlog", StateValue="OK", StateReason="quiet")
    return client


def test_state_changes_are_listed_newest_first_with_old_and_new_state(cloudwatch: Any) -> None:
    items = cloudwatch.describe_alarm_history(AlarmName="backlog")["AlarmHistoryItems"]
    assert [item["HistorySummary"] for item in items] == [
        "Alarm updated from ALARM to OK",
        "Alarm updated from OK to ALARM",
        'Alarm "backlog" created',
    ]
    assert [item["Timestamp"] for item in items] == sorted(
        (item["Timestamp"] for item in items), reverse=True
    )
    to_alarm = json.loads(items[1]["HistoryData"])
    assert to_alarm["oldState"]["stateValue"] == "OK"
    assert to_alarm["newState"] == {
        "stateValue": "ALARM",
        "stateReason": "breached",
        "stateReasonData": {"recentDatapoints": [3.0]},
    }


def test_history_is_filtered_by_type_and_name_and_paged(cloudwatch: Any) -> None:
    updates = cloudwatch.describe_alarm_history(
        HistoryItemType="StateUpdate", ScanBy="TimestampAscending", MaxRecords=1
    )
    assert [i["HistorySummary"] for i in updates["AlarmHistoryItems"]] == [
        "Alarm updated from OK to ALARM"
    ]
    rest = cloudwatch.describe_alarm_history(
        HistoryItemType="StateUpdate", ScanBy="TimestampAscending", NextToken=updates["NextToken"]
    )
    assert [i["HistorySummary"] for i in rest["AlarmHistoryItems"]] == [
        "Alarm updated from ALARM to OK"
    ]
    assert "NextToken" not in rest
    other = cloudwatch.describe_alarm_history(AlarmName="no-such-alarm")
    assert other["AlarmHistoryItems"] == []


def test_items_of_the_same_moment_keep_their_order_both_ways(cloudwatch: Any) -> None:
    """A coarse clock gives two changes one timestamp: each scan is still the other's reverse,
    and the creation comes first (sorting newest first with reverse=True put it last)."""
    from moto.cloudwatch.models import cloudwatch_backends

    [alarm] = [
        found
        for regions in cloudwatch_backends.values()
        for backend in regions.values()
        for name, found in backend.alarms.items()
        if name == "backlog"
    ]
    moment = alarm.state_updated_timestamp
    alarm.history = [(*entry[:4], moment) for entry in alarm.history]
    setattr(alarm, motoalarms.CHANGES, [(motoalarms.CREATED, moment)])

    def summaries(order: str) -> list[str]:
        items = cloudwatch.describe_alarm_history(AlarmName="backlog", ScanBy=order)
        return [item["HistorySummary"] for item in items["AlarmHistoryItems"]]

    oldest_first = summaries("TimestampAscending")
    assert oldest_first == [
        'Alarm "backlog" created',
        "Alarm updated from OK to ALARM",
        "Alarm updated from ALARM to OK",
    ]
    assert summaries("TimestampDescending") == oldest_first[::-1]


def test_a_next_token_it_did_not_hand_out_is_refused_not_a_server_error(
    cloudwatch: Any, moto_clients: Any
) -> None:
    with pytest.raises(AwsError, match=r"\(InvalidParameterValue\): Invalid NextToken"):
        cloudwatch.describe_alarm_history(NextToken="not-a-token")
    autoscaling = moto_clients.client("application-autoscaling")
    with pytest.raises(AwsError, match=r"\(ValidationException\): Invalid NextToken"):
        autoscaling.describe_scaling_activities(ServiceNamespace="sagemaker", NextToken="x")


def test_a_new_alarm_is_insufficient_data_and_an_update_keeps_state_and_history(
    moto_clients: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.cloudwatch.models import CloudWatchBackend

    # Restored after the test: other tests here use moto as it is.
    monkeypatch.setattr(CloudWatchBackend, "put_metric_alarm", CloudWatchBackend.put_metric_alarm)
    motoalarms.install()
    client = moto_clients.client("cloudwatch")
    alarm = {
        "AlarmName": "fresh",
        "Namespace": "AWS/SageMaker",
        "MetricName": "HasBacklogWithoutCapacity",
        "Statistic": "Average",
        "Period": 60,
        "EvaluationPeriods": 2,
        "Threshold": 1.0,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
    }
    client.put_metric_alarm(**alarm)
    [fresh] = client.describe_alarms(AlarmNames=["fresh"])["MetricAlarms"]
    assert fresh["StateValue"] == "INSUFFICIENT_DATA"
    client.set_alarm_state(AlarmName="fresh", StateValue="ALARM", StateReason="breached")
    client.put_metric_alarm(**{**alarm, "EvaluationPeriods": 3})
    [updated] = client.describe_alarms(AlarmNames=["fresh"])["MetricAlarms"]
    assert (updated["StateValue"], updated["EvaluationPeriods"]) == ("ALARM", 3)
    history = client.describe_alarm_history(AlarmName="fresh", ScanBy="TimestampAscending")
    summaries = [item["HistorySummary"] for item in history["AlarmHistoryItems"]]
    # The update is an item of its own: the creation keeps its place (it moved to the update).
    assert summaries == [
        'Alarm "fresh" created',
        "Alarm updated from INSUFFICIENT_DATA to ALARM",
        'Alarm "fresh" updated',
    ]


@pytest.mark.parametrize(
    ("request_", "says"),
    [
        ({"HistoryItemType": "Bogus"}, "at 'historyItemType' failed to satisfy constraint"),
        ({"ScanBy": "Bogus"}, "at 'scanBy' failed to satisfy constraint"),
        ({"MaxRecords": 101}, "Member must have value between 1 and 100"),
    ],
)
def test_a_request_cloudwatch_refuses_is_refused(
    cloudwatch: Any, request_: dict[str, Any], says: str
) -> None:
    with pytest.raises(AwsError, match=rf"\(ValidationError\).*{says}"):
        cloudwatch.describe_alarm_history(**request_)
