"""The serving container's request log: one JSON line per request, in CloudWatch's Embedded
Metric Format (EMF), so CloudWatch Logs turns the same line into metrics.

The server writes the lines (`format_line`); the local stack and `wasync logs --requests` read
them back (`parse_line`, `metric_data`). Standard library only, so every side can import it.

A line looks like this (one line on stdout; wrapped here):

    {"_aws": {"Timestamp": 1764374400000, "CloudWatchMetrics": [{"Namespace": "wasync",
      "Dimensions": [["Endpoint"]], "Metrics": [{"Name": "AudioSeconds", "Unit": "Seconds"}, ...]}]},
     "Event": "wasync.request", "Endpoint": "whisper", "InferenceId": "...", "Method": "POST",
     "Path": "/invocations", "Status": 200, "Outcome": "ok", "ContentLength": 1048576,
     "AudioSeconds": 30.0, "ProcessingSeconds": 1.3, "RealTimeFactor": 0.0433, "RequestSeconds": 1.4,
     "Engine": "faster", "Model": "tiny.en", "Language": "en", "Options": {...}}
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .untrusted import parsed_json

EVENT = "wasync.request"
NAMESPACE = "wasync"
DIMENSIONS = ("Endpoint",)
UNKNOWN_ENDPOINT = "unknown"

# (metric name, CloudWatch unit): metrics of a request that produced a transcript
SUCCESS_METRICS: tuple[tuple[str, str], ...] = (
    ("AudioSeconds", "Seconds"),
    ("ProcessingSeconds", "Seconds"),
    ("RealTimeFactor", "None"),
)
# a request that failed counts once, so a dashboard can show failures beside the work done
FAILURE_METRICS: tuple[tuple[str, str], ...] = (("Failures", "Count"),)


def format_line(record: Mapping[str, Any], timestamp_ms: int) -> str:
    """One request's log line: `record`'s fields plus the EMF block for the metrics it has.

    `record` holds the fields shown in the module docstring; `Outcome` "ok" marks a success.
    Metrics whose value is missing (e.g. no audio was decoded) are left out of the block.
    """
    fields: dict[str, Any] = {"Event": EVENT, **record}
    fields.setdefault("Endpoint", UNKNOWN_ENDPOINT)
    if fields.get("Outcome") == "ok":
        metrics = SUCCESS_METRICS
    else:
        fields["Failures"] = 1
        metrics = FAILURE_METRICS
    present = [
        {"Name": name, "Unit": unit} for name, unit in metrics if _is_number(fields.get(name))
    ]
    document: dict[str, Any] = {}
    if present:
        document["_aws"] = {
            "Timestamp": int(timestamp_ms),
            "CloudWatchMetrics": [
                {"Namespace": NAMESPACE, "Dimensions": [list(DIMENSIONS)], "Metrics": present}
            ],
        }
    document.update(fields)
    return json.dumps(document, separators=(",", ":"), ensure_ascii=True, default=str)


def parse_line(line: str) -> dict[str, Any] | None:
    """The request record in a log line (without its `_aws` block), or None for any other line.

    Lines may carry a prefix before the JSON (a timestamp added by a log shipper); it is skipped.
    """
    start = line.find("{")
    if start < 0:
        return None
    document = parsed_json(line[start:])
    if not isinstance(document, dict) or document.get("Event") != EVENT:
        return None
    return {key: value for key, value in document.items() if key != "_aws"}


@dataclass(frozen=True)
class MetricDatum:
    """One value extracted from an EMF document, as CloudWatch's PutMetricData would take it."""

    namespace: str
    name: str
    value: float
    unit: str
    dimensions: tuple[tuple[str, str], ...]
    timestamp_ms: int


def metric_data(line: str) -> list[MetricDatum]:
    """Every metric value an EMF line defines, as CloudWatch Logs would extract it.

    Follows the EMF specification: each directive's Namespace, each of its dimension sets (whose
    keys name string members of the root), each metric definition (whose name names a number, or
    an array of numbers, on the root). Lines that are not EMF documents yield nothing.
    """
    start = line.find("{")
    if start < 0:
        return []
    document = parsed_json(line[start:])
    if not isinstance(document, dict) or not isinstance(document.get("_aws"), dict):
        return []
    metadata = document["_aws"]
    timestamp = metadata.get("Timestamp")
    directives = metadata.get("CloudWatchMetrics")
    if not _is_number(timestamp) or not isinstance(directives, list):
        return []
    return list(_extract(document, directives, int(timestamp)))


def _extract(
    document: Mapping[str, Any], directives: list[Any], timestamp: int
) -> Iterator[MetricDatum]:
    for directive in directives:
        if not isinstance(directive, dict):
            continue
        namespace = directive.get("Namespace")
        if not isinstance(namespace, str) or not namespace:
            continue
        for dimension_set in directive.get("Dimensions") or [[]]:
            if not isinstance(dimension_set, list):
                continue
            dimensions: list[tuple[str, str]] = []
            for key in dimension_set:
                value = document.get(key)
                if not isinstance(value, str):
                    break  # a dimension must name a string member of the root
                dimensions.append((str(key), value))
            else:
                yield from _values(document, namespace, directive, tuple(dimensions), timestamp)


def _values(
    document: Mapping[str, Any],
    namespace: str,
    directive: Mapping[str, Any],
    dimensions: tuple[tuple[str, str], ...],
    timestamp: int,
) -> Iterator[MetricDatum]:
    """The values of one directive's metrics under one dimension set."""
    for definition in directive.get("Metrics") or []:
        name = definition.get("Name") if isinstance(definition, dict) else None
        if not isinstance(name, str):
            continue
        unit = definition.get("Unit") or "None"
        raw = document.get(name)
        for value in raw if isinstance(raw, list) else [raw]:
            if isinstance(value, int | float) and _is_number(value):
                yield MetricDatum(namespace, name, float(value), unit, dimensions, timestamp)


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )
