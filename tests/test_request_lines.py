"""Request lines read back (`wasync logs --requests`) and their EMF metrics recorded as
CloudWatch Logs records them (the stack's `local/emf.py`), on lines the serving container's own
formatter writes."""

from __future__ import annotations

import io
import json

from whisper_async.cli.render import Output, request_table
from whisper_async.local import emf
from whisper_async.logs import LogEvent, request_lines
from whisper_async.requestlog import format_line

STAMP = 1_764_374_400_000
OK = {
    "Endpoint": "whisper",
    "InferenceId": "job-1",
    "Status": 200,
    "Outcome": "ok",
    "AudioSeconds": 31.152,
    "ProcessingSeconds": 1.318,
    "RealTimeFactor": 0.0423,
    "RequestSeconds": 1.331,
    "Engine": "faster",
    "Model": "tiny.en",
    "Language": "en",
    "Options": {"format": "json", "beam_size": 1},
}
FAILED = {"Endpoint": "whisper", "InferenceId": "job-2", "Status": 415, "Outcome": "bad_audio"}


def events() -> list[LogEvent]:
    return [
        LogEvent(STAMP, "AllTraffic/i-1", "2026-01-01 12:00:00,000 INFO wasync.serve: ready"),
        LogEvent(STAMP + 1, "AllTraffic/i-1", format_line(OK, STAMP + 1)),
        LogEvent(STAMP + 2, "AllTraffic/i-1", '{"not": "a request line"}'),
        LogEvent(STAMP + 3, "AllTraffic/i-2", format_line(FAILED, STAMP + 3)),
    ]


def test_request_lines_are_the_request_records_only() -> None:
    found = list(request_lines(events()))
    assert [(r.inference_id, r.status, r.outcome) for r in found] == [
        ("job-1", 200, "ok"),
        ("job-2", 415, "bad_audio"),
    ]
    assert found[0].real_time_factor == 0.0423 and found[0].options == OK["Options"]
    assert found[1].audio_seconds is None and found[1].stream == "AllTraffic/i-2"


def test_the_table_has_one_heading_and_a_row_per_request() -> None:
    out = io.StringIO()
    output = Output(stdout=out)
    row = request_table()
    for line in request_lines(events()):
        output.show_line(line, row)
    heading, first, second = out.getvalue().splitlines()
    assert heading.split()[:4] == ["TIME", "INFERENCE", "ID", "STATUS"]
    assert first.split()[1:8] == ["job-1", "200", "ok", "31.2", "1.32", "0.042", "faster"]
    assert second.split()[1:4] == ["job-2", "415", "bad_audio"]


def test_under_json_each_request_is_one_line() -> None:
    out = io.StringIO()
    output = Output(json_mode=True, stdout=out)
    for line in request_lines(events()):
        output.show_line(line, request_table())
    documents = [json.loads(text) for text in out.getvalue().splitlines()]
    assert [d["inference_id"] for d in documents] == ["job-1", "job-2"]


def test_emf_lines_become_cloudwatch_metrics(moto_clients) -> None:  # type: ignore[no-untyped-def]
    lines = [event.message for event in events()]
    lines.append(
        json.dumps(
            {
                "_aws": {
                    "Timestamp": STAMP,
                    "CloudWatchMetrics": [
                        {
                            "Namespace": "wasync",
                            "Dimensions": [[]],
                            "Metrics": [{"Name": "Odd", "Unit": "Furlongs"}],
                        }
                    ],
                },
                "Odd": 1,
            }
        )
    )
    data = emf.metrics_in(lines)
    assert {d.name for d in data} == {
        "AudioSeconds",
        "ProcessingSeconds",
        "RealTimeFactor",
        "Failures",
    }
    cloudwatch = moto_clients.client("cloudwatch")
    assert emf.put_metrics(cloudwatch, data) == 4
    listed = cloudwatch.list_metrics(Namespace="wasync")["Metrics"]
    assert {m["MetricName"] for m in listed} == {d.name for d in data}
    assert all(m["Dimensions"] == [{"Name": "Endpoint", "Value": "whisper"}] for m in listed)


def test_the_heading_lines_up_with_a_wasync_inference_id() -> None:
    """wasync's inference ids (job id, batch id) are longer than AWS's UUIDs; the columns after
    them must still sit under their headings."""
    inference_id = "1a1b1d5e341257a93a45326e-20261130-035302-f173f7"
    # and the server's longest outcome pushed the columns after it two to the right
    line = dict(OK, InferenceId=inference_id, Outcome="unsupported_language")
    out = io.StringIO()
    output = Output(stdout=out)
    row = request_table()
    for found in request_lines([LogEvent(STAMP, "AllTraffic/i-1", format_line(line, STAMP))]):
        output.show_line(found, row)
    heading, first = out.getvalue().splitlines()
    assert first.index(" 200 ") + 1 == heading.index("STATUS")
    assert first.index(" faster ") + 1 == heading.index("ENGINE")
