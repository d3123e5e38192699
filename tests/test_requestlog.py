"""The request log line: valid EMF by AWS's own schema, and readable back by the local stack."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from whisper_async import requestlog

SUCCESS = {
    "Endpoint": "whisper",
    "InferenceId": "0f1e2d3c",
    "Status": 200,
    "Outcome": "ok",
    "ContentLength": 1000,
    "AudioSeconds": 30.0,
    "ProcessingSeconds": 1.5,
    "RealTimeFactor": 0.05,
    "Engine": "faster",
    "Options": {"language": None, "beam_size": 1},
}
FAILURE = {
    "Endpoint": "whisper",
    "Status": 415,
    "Outcome": "undecodable_audio",
    "Message": "cannot decode the audio: Invalid data found when processing input",
    "AudioSeconds": None,
    "ProcessingSeconds": None,
}


@pytest.fixture(scope="module")
def emf_schema(data_dir: Path) -> dict:
    schema: dict = json.loads((data_dir / "emf_schema.json").read_text())
    return schema


@pytest.mark.parametrize("record", [SUCCESS, FAILURE], ids=["success", "failure"])
def test_each_line_is_one_json_object_that_aws_schema_accepts(
    record: dict, emf_schema: dict
) -> None:
    line = requestlog.format_line(record, timestamp_ms=1_764_374_400_000)
    assert "\n" not in line
    document = json.loads(line)
    jsonschema.validate(document, emf_schema)
    for directive in document["_aws"]["CloudWatchMetrics"]:
        for dimension_set in directive["Dimensions"]:
            assert all(isinstance(document[key], str) for key in dimension_set)
        for metric in directive["Metrics"]:
            assert isinstance(document[metric["Name"]], int | float)


def test_a_success_yields_its_three_metrics_under_the_endpoint_dimension() -> None:
    line = requestlog.format_line(SUCCESS, timestamp_ms=1_764_374_400_000)
    data = {d.name: d for d in requestlog.metric_data(line)}
    assert set(data) == {"AudioSeconds", "ProcessingSeconds", "RealTimeFactor"}
    assert data["AudioSeconds"].value == 30.0 and data["AudioSeconds"].unit == "Seconds"
    assert data["RealTimeFactor"].unit == "None"
    assert data["ProcessingSeconds"].dimensions == (("Endpoint", "whisper"),)
    assert data["ProcessingSeconds"].namespace == "wasync"
    assert data["ProcessingSeconds"].timestamp_ms == 1_764_374_400_000


def test_a_failure_counts_once_and_keeps_its_message() -> None:
    line = requestlog.format_line(FAILURE, timestamp_ms=1)
    assert [(d.name, d.value, d.unit) for d in requestlog.metric_data(line)] == [
        ("Failures", 1.0, "Count")
    ]
    parsed = requestlog.parse_line(line)
    assert parsed is not None
    assert parsed["Outcome"] == "undecodable_audio" and "cannot decode" in parsed["Message"]
    assert "_aws" not in parsed


def test_parse_reads_lines_with_a_prefix_and_ignores_other_lines() -> None:
    line = requestlog.format_line(SUCCESS, timestamp_ms=1)
    assert requestlog.parse_line(f"2026-01-01T00:00:00Z {line}") == requestlog.parse_line(line)
    assert requestlog.parse_line("2026-01-01 INFO wasync.serve: model loaded") is None
    assert requestlog.parse_line('{"some": "other json"}') is None
    assert requestlog.parse_line("{not json") is None


def test_metric_data_follows_the_spec_for_other_emf_documents() -> None:
    """Lines from other writers: arrays of values, several dimension sets, bad references."""
    document = {
        "_aws": {
            "Timestamp": 5,
            "CloudWatchMetrics": [
                {
                    "Namespace": "other",
                    "Dimensions": [["Service"], ["Service", "Missing"], []],
                    "Metrics": [{"Name": "Latency", "Unit": "Milliseconds"}, {"Name": "Absent"}],
                }
            ],
        },
        "Service": "api",
        "Latency": [1, 2, "three"],
    }
    data = requestlog.metric_data(json.dumps(document))
    assert [(d.dimensions, d.value) for d in data] == [
        ((("Service", "api"),), 1.0),
        ((("Service", "api"),), 2.0),
        ((), 1.0),
        ((), 2.0),
    ]
    assert requestlog.metric_data('{"_aws": {"CloudWatchMetrics": []}}') == []


def test_a_line_nested_past_the_recursion_limit_is_no_request_and_no_metric() -> None:
    """One `{"Event":[[[...` line in the log group ended `logs --requests` with "unexpected
    RecursionError", losing the whole listing (an attack trial)."""
    deep = '{"Event": ' + "[" * 100_000
    assert requestlog.parse_line(deep) is None
    assert requestlog.metric_data('{"_aws": ' + "[" * 100_000) == []
