from __future__ import annotations

import time

import pytest

from whisper_async.durations import parse_duration
from whisper_async.errors import NotFoundError, UsageError
from whisper_async.logs import read_events


def test_reads_the_endpoints_log_group(moto_clients) -> None:
    logs = moto_clients.client("logs")
    group = "/aws/sagemaker/Endpoints/whisper"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="AllTraffic/i-1")
    now = int(time.time() * 1000)
    logs.put_log_events(
        logGroupName=group,
        logStreamName="AllTraffic/i-1",
        logEvents=[
            {"timestamp": now - 5000, "message": "model loaded"},
            {"timestamp": now - 1000, "message": "POST /invocations 200"},
        ],
    )
    events = list(read_events(moto_clients, since_seconds=60))
    assert [e.message for e in events] == ["model loaded", "POST /invocations 200"]
    # further back than 1970 (--since 36500d): everything, not botocore's "startTime min 0"
    everything = list(read_events(moto_clients, since_seconds=parse_duration("36500d")))
    assert [e.message for e in everything] == ["model loaded", "POST /invocations 200"]


def test_missing_log_group_says_logs_come_later_or_that_the_endpoint_does_not_exist(
    moto_clients,
) -> None:
    """`logs -e nope` said logs come once an instance has started, of an endpoint never made."""
    with pytest.raises(NotFoundError, match="Endpoint whisper does not exist") as typo:
        list(read_events(moto_clients))
    assert "check --endpoint" in (typo.value.hint or "")
    sagemaker = moto_clients.client("sagemaker")
    sagemaker.create_model(
        ModelName="m",
        ExecutionRoleArn="arn:aws:iam::123456789012:role/r",
        PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/w:latest"},
    )
    variant = {
        "VariantName": "AllTraffic",
        "ModelName": "m",
        "InstanceType": "ml.m5.large",
        "InitialInstanceCount": 1,
    }
    sagemaker.create_endpoint_config(EndpointConfigName="c", ProductionVariants=[variant])
    sagemaker.create_endpoint(EndpointName=moto_clients.settings.endpoint, EndpointConfigName="c")
    with pytest.raises(NotFoundError, match="No logs for endpoint whisper yet"):
        list(read_events(moto_clients))


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("10m", 600), ("2h", 7200), ("1d", 86400), ("45", 45)]
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


def test_bad_duration_shows_examples() -> None:
    with pytest.raises(UsageError, match="ten minutes"):
        parse_duration("ten minutes")
    for other_digits in (
        "\u00b2",
        "\u0665",
        "1_0",
        "9" * 5000 + "s",
    ):  # int() refuses 4,300  # isdigit() passed '²', int() refused it
        with pytest.raises(UsageError, match="is not a duration"):
            parse_duration(other_digits)
    for too_long in ("99999999999d", "3200000000"):  # dates from them overflowed
        with pytest.raises(UsageError, match="longer than 100 years"):
            parse_duration(too_long)
