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


def made_earlier(endpoint: str, minutes: float) -> None:
    """Moto's endpoint `endpoint` made `minutes` ago, so that datapoints put since are its own
    (status leaves out the minutes of an earlier endpoint of the same name)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sagemaker.models import sagemaker_backends

    backend = sagemaker_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    made = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=minutes)
    backend.endpoints[endpoint].creation_time = made.isoformat()
