"""Where one endpoint's work shows in AWS: inputs read from and results written to S3, SNS
notifications in SageMaker's message format, container logs in CloudWatch Logs (and the
metrics of their EMF lines), and the async inference metrics in CloudWatch."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import naming
from ..clients import Clients
from ..storage import S3Uri
from . import emf
from .invocation import Outcome
from .jobqueue import Job
from .notifications import notification

log = logging.getLogger("wasync.local")


@dataclass(frozen=True)
class AwsClients:
    """The stack's own clients, made once: boto3 sessions are not safe to share across the
    threads that would otherwise create clients lazily."""

    s3: Any
    sns: Any
    logs: Any
    cloudwatch: Any
    region: str

    @classmethod
    def from_clients(cls, clients: Clients) -> AwsClients:
        return cls(
            clients.client("s3"),
            clients.client("sns"),
            clients.client("logs"),
            clients.client("cloudwatch"),
            clients.region,
        )


class AwsSink:
    def __init__(self, endpoint: str, aws: AwsClients) -> None:
        self.endpoint = endpoint
        self.aws = aws
        self._log_lock = threading.Lock()
        self._log_buffer: dict[str, list[dict[str, Any]]] = {}
        self._flush_lock = threading.Lock()  # one flush at a time keeps each stream in order
        self._streams: set[str] = set()

    def fetch_input(self, location: str, path: Path) -> None:
        uri = S3Uri.parse(location)
        self.aws.s3.download_file(uri.bucket, uri.key, str(path))

    def deliver(self, job: Job, outcome: Outcome) -> None:
        """Write the result or failure object, then notify the job's topic, if any."""
        uri = S3Uri.parse(job.output_location if outcome.success else job.failure_location)
        self.aws.s3.put_object(
            Bucket=uri.bucket, Key=uri.key, Body=outcome.body, ContentType=outcome.content_type
        )
        topic = job.success_topic if outcome.success else job.error_topic
        if not topic:
            return
        try:
            message = json.dumps(notification(job, outcome, self.aws.region))
            self.aws.sns.publish(TopicArn=topic, Message=message)
        except Exception:  # a lost notification must not lose the result already written
            log.exception("SNS publish to %s failed", topic)

    def record_log(self, stream: str, line: str) -> None:
        """Buffer one container log line for the instance's stream (`AllTraffic/{id}`)."""
        event = {"timestamp": int(time.time() * 1000), "message": line}
        with self._log_lock:
            self._log_buffer.setdefault(stream, []).append(event)

    def flush_logs(self) -> None:
        """Ship the buffered lines to CloudWatch Logs, then record the metrics of those that
        are EMF documents, as CloudWatch Logs does on AWS."""
        with self._flush_lock:
            with self._log_lock:
                buffered, self._log_buffer = self._log_buffer, {}
            unshipped = self._ship(buffered)
            if unshipped:  # kept, ahead of newer lines, for the next flush: no line is lost
                with self._log_lock:
                    for stream, events in unshipped.items():
                        self._log_buffer[stream] = events + self._log_buffer.get(stream, [])
            lines = (
                event["message"]
                for stream, events in buffered.items()
                if stream not in unshipped
                for event in events
            )
            try:
                emf.put_metrics(self.aws.cloudwatch, emf.metrics_in(lines))
            except Exception:  # the lines are shipped; a metric CloudWatch refuses loses no log
                log.exception("EMF metrics of endpoint %s were not recorded", self.endpoint)

    def _ship(self, buffered: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
        """Put each stream's lines; returns the streams whose lines did not go."""
        group = naming.log_group(self.endpoint)
        unshipped: dict[str, list[dict[str, Any]]] = {}
        for stream, events in buffered.items():
            name = f"{naming.VARIANT}/{stream}"
            if name not in self._streams:
                with contextlib.suppress(Exception):  # it exists already
                    self.aws.logs.create_log_group(logGroupName=group)
                with contextlib.suppress(Exception):
                    self.aws.logs.create_log_stream(logGroupName=group, logStreamName=name)
                self._streams.add(name)
            try:
                self.aws.logs.put_log_events(
                    logGroupName=group, logStreamName=name, logEvents=events
                )
            except Exception:
                log.warning("logs of %s not shipped yet; retried at the next flush", name)
                unshipped[stream] = events
        return unshipped

    def put_metrics(self, backlog: int, instances: int, age: float, timestamp: float) -> None:
        """The metrics SageMaker publishes for async endpoints, which autoscaling reads: one
        datapoint each at `timestamp`; `age` is the oldest request's, in AWS seconds."""
        data = {
            "ApproximateBacklogSize": float(backlog),
            "ApproximateBacklogSizePerInstance": float(backlog) / max(instances, 1),
            "HasBacklogWithoutCapacity": 1.0 if backlog and not instances else 0.0,
            "ApproximateAgeOfOldestRequest": age,
        }
        moment = dt.datetime.fromtimestamp(timestamp, dt.timezone.utc)
        dimensions = [{"Name": "EndpointName", "Value": self.endpoint}]
        self.aws.cloudwatch.put_metric_data(
            Namespace="AWS/SageMaker",
            MetricData=[
                {
                    "MetricName": name,
                    "Value": value,
                    "Dimensions": dimensions,
                    "Timestamp": moment,
                    "Unit": "None",
                }
                for name, value in data.items()
            ],
        )
