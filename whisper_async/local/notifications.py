"""SageMaker's asynchronous inference notification: the SNS message a finished job sends.

The shape follows AWS's documented success notification (docs.aws.amazon.com/sagemaker/latest/
dg/async-inference-check-predictions.html): `requestParameters` carries only what the request
sent (`accept`, `contentType`, `customAttributes`, `inputLocation`) plus `endpointName`, never
an explicit null; `responseParameters.contentType` is the result's own content type (what the
container answered, e.g. `application/x-subrip; charset=utf-8` for an srt), not the request's
Accept header. A failure carries `failureReason` and `responseParameters.failureLocation`.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from .invocation import Outcome
from .jobqueue import Job


def iso_time(timestamp: float) -> str:
    """`2022-01-25T22:46:00.608Z`: UTC, milliseconds, as AWS writes event times."""
    moment = dt.datetime.fromtimestamp(timestamp, dt.timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def request_parameters(job: Job) -> dict[str, str]:
    """The request's parameters as the notification names them, leaving out those not sent."""
    sent = {
        "accept": job.accept,
        "contentType": job.content_type,
        "customAttributes": job.custom_attributes,
        "endpointName": job.endpoint,
        "inputLocation": job.input_location,
    }
    return {key: value for key, value in sent.items() if value is not None}


def notification(job: Job, outcome: Outcome, region: str) -> dict[str, Any]:
    """The notification for one finished job, keys in AWS's order."""
    message: dict[str, Any] = {
        "awsRegion": region,
        "eventTime": iso_time(time.time()),
        "receivedTime": iso_time(job.received),
        "invocationStatus": "Completed" if outcome.success else "Failed",
    }
    if not outcome.success:
        message["failureReason"] = outcome.reason
    message["requestParameters"] = request_parameters(job)
    message["responseParameters"] = (
        {"contentType": outcome.content_type, "outputLocation": job.output_location}
        if outcome.success
        else {"failureLocation": job.failure_location}
    )
    message.update(
        inferenceId=job.inference_id,
        eventVersion="1.0",
        eventSource="aws:sagemaker",
        eventName="InferenceResult",
    )
    return message
