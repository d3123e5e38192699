"""Datapoints put into CloudWatch the way the stack (and SageMaker) publishes them."""

from __future__ import annotations

import datetime as dt
from typing import Any


def put_backlog(cloudwatch: Any, value: float, at: dt.datetime, endpoint: str = "whisper") -> None:
    """One `ApproximateBacklogSize` datapoint for `endpoint` at `at`."""
    cloudwatch.put_metric_data(
        Namespace="AWS/SageMaker",
        MetricData=[
            {
                "MetricName": "ApproximateBacklogSize",
                "Dimensions": [{"Name": "EndpointName", "Value": endpoint}],
                "Value": value,
                "Timestamp": at,
            }
        ],
    )
