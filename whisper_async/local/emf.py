"""CloudWatch Logs' Embedded Metric Format, applied by the stack as CloudWatch applies it.

On AWS, CloudWatch Logs reads every log line that is an EMF document (a JSON object with an
`_aws.CloudWatchMetrics` block) and records its metrics; nothing else has to call
PutMetricData. The stack does the same with its containers' log lines: the metrics go to moto's
CloudWatch in the document's namespace, with its dimensions, units and timestamp, so
`aws cloudwatch list-metrics --namespace wasync` and `get-metric-statistics` show them. The
extraction itself follows the EMF specification in `whisper_async.requestlog.metric_data`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import botocore.session

from ..requestlog import MetricDatum, metric_data

log = logging.getLogger("wasync.local")
PUT_LIMIT = 1000  # PutMetricData's most values per call
UNITS = frozenset(
    botocore.session.get_session().get_service_model("cloudwatch").shape_for("StandardUnit").enum  # type: ignore[attr-defined]  # botocore's StringShape has .enum
)


def metrics_in(lines: Iterable[str]) -> list[MetricDatum]:
    """Every metric value the EMF documents among `lines` define; other lines give none. A
    value whose unit is not one of CloudWatch's standard units is dropped, and logged."""
    found = []
    for line in lines:
        for datum in metric_data(line):
            if datum.unit in UNITS:
                found.append(datum)
            else:
                log.warning("EMF metric %s has an unknown unit %r: dropped", datum.name, datum.unit)
    return found


def put_metrics(cloudwatch: Any, data: Iterable[MetricDatum]) -> int:
    """PutMetricData for `data`, one call per namespace and thousand values; returns the count."""
    by_namespace: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for datum in data:
        by_namespace[datum.namespace].append(
            {
                "MetricName": datum.name,
                "Value": datum.value,
                "Unit": datum.unit,
                "Dimensions": [{"Name": name, "Value": value} for name, value in datum.dimensions],
                "Timestamp": dt.datetime.fromtimestamp(datum.timestamp_ms / 1000, dt.timezone.utc),
            }
        )
    for namespace, entries in by_namespace.items():
        for start in range(0, len(entries), PUT_LIMIT):
            cloudwatch.put_metric_data(
                Namespace=namespace, MetricData=entries[start : start + PUT_LIMIT]
            )
    return sum(len(entries) for entries in by_namespace.values())
