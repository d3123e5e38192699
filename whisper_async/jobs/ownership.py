"""Whose claim is it, and is it safe to take over?

A job record is claimed before the endpoint is invoked. If the claiming process dies between
the two, the record points at a job that was never queued, and nothing will ever land at its
output. A re-run cannot ask SageMaker whether a request was queued, so it takes over such a
claim only with proof that the job cannot still be running:

1. the claiming process is gone: the same host no longer runs its pid, or (from another
   host) its batch heartbeat, rewritten every 30 s, is older than 2 minutes; and
2. after that was seen, the endpoint's queue was empty (`ApproximateBacklogSize` reached 0 in
   CloudWatch), or the job's RequestTTL plus invocation timeout have passed. A job that was
   queued would have written its result or failure by then, and none is there.

Only then is the job invoked again, and the takeover is a conditional write (`IfMatch`), so of
several re-runs exactly one does it. Nothing is ever invoked twice; the price is that such a
job waits for the endpoint to drain.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..processes import pid_alive
from ..untrusted import parsed_json
from .codes import aws_code
from .records import MISSING_CODES, Owner

HEARTBEAT_SECONDS = 30.0
STALE_AFTER = 120.0
MAX_HEARTBEAT_BYTES = 64 * 1024  # a heartbeat wasync writes is under 1 KiB


def _updated_at(data: Any) -> dt.datetime | None:
    """When a heartbeat says it was written; None for anything that is not one of ours."""
    stamp = data.get("updated_at") if isinstance(data, dict) else None
    try:
        return dt.datetime.fromisoformat(stamp) if isinstance(stamp, str) else None
    except ValueError:
        return None


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass
class Heartbeats:
    """`{prefix}batches/{batch}.json`: which process runs a batch, and when it last said so."""

    s3: Any
    bucket: str
    prefix: str
    now: Callable[[], dt.datetime] = utc_now
    _cache: dict[str, tuple[float, dt.datetime | None]] | None = None

    def key(self, batch: str) -> str:
        return f"{self.prefix}batches/{batch}.json"

    def beat(self, owner: Owner, details: dict[str, Any]) -> None:
        body = {
            "batch": owner.batch,
            "host": owner.host,
            "pid": owner.pid,
            "updated_at": self.now().isoformat(),
            **details,
        }
        self.s3.put_object(
            Bucket=self.bucket,
            Key=self.key(owner.batch),
            Body=json.dumps(body, sort_keys=True).encode(),
            ContentType="application/json",
        )

    def sending_to(self, endpoint: str, since: dt.datetime) -> list[str]:
        """Batches whose heartbeat, written since `since`, names `endpoint`: runs that sent it
        jobs lately (a run beats while it sends, and while it waits), newest first."""
        found: list[tuple[dt.datetime, str]] = []
        try:
            for page in self.s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=f"{self.prefix}batches/"
            ):
                for listed in page.get("Contents", []):
                    if listed["LastModified"] < since:
                        continue
                    body = self.s3.get_object(Bucket=self.bucket, Key=listed["Key"])["Body"]
                    data = parsed_json(body.read(MAX_HEARTBEAT_BYTES))
                    if isinstance(data, dict) and data.get("endpoint") == endpoint:
                        found.append((listed["LastModified"], str(data.get("batch"))))
        except Exception as exc:
            if aws_code(exc) not in MISSING_CODES:
                raise
        return [batch for _, batch in sorted(found, reverse=True)]

    def last_beat(self, batch: str) -> dt.datetime | None:
        """When the batch's process last wrote its heartbeat (cached for a heartbeat period)."""
        cache = self._cache if self._cache is not None else {}
        self._cache = cache
        cached = cache.get(batch)
        if cached is not None and time.monotonic() - cached[0] < HEARTBEAT_SECONDS:
            return cached[1]
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=self.key(batch))["Body"].read(
                MAX_HEARTBEAT_BYTES
            )
        except Exception as exc:
            if aws_code(exc) not in MISSING_CODES:
                raise
            body = b""
        updated = _updated_at(parsed_json(body) if body else None)
        cache[batch] = (time.monotonic(), updated)
        return updated

    def alive(self, owner: Owner) -> bool:
        if not owner.batch:
            return False
        if owner.host == socket.gethostname() and not pid_alive(owner.pid):
            return False
        updated = self.last_beat(owner.batch)
        return updated is not None and (self.now() - updated).total_seconds() < STALE_AFTER


class IdleProbe:
    """Was the endpoint's queue empty at some moment after `since`? From CloudWatch's
    ApproximateBacklogSize, which SageMaker (and the local stack) publish for async endpoints.
    Only datapoints that start at or after `since` count, so no sample from before it does."""

    def __init__(self, cloudwatch: Any, endpoint: str, now: Callable[[], dt.datetime] = utc_now):
        self.cloudwatch = cloudwatch
        self.endpoint = endpoint
        self.now = now

    def idle_since(self, since: dt.datetime) -> bool:
        start = since.replace(microsecond=0) + dt.timedelta(seconds=1)
        end = self.now() + dt.timedelta(seconds=60)
        if start >= end:
            return False
        response = self.cloudwatch.get_metric_statistics(
            Namespace="AWS/SageMaker",
            MetricName="ApproximateBacklogSize",
            Dimensions=[{"Name": "EndpointName", "Value": self.endpoint}],
            StartTime=start,
            EndTime=end,
            Period=60,
            Statistics=["Minimum"],
        )
        for point in response.get("Datapoints", []):
            stamp = point["Timestamp"]
            if stamp.tzinfo is None:
                stamp = stamp.replace(tzinfo=dt.timezone.utc)
            if stamp >= start and math.isclose(float(point.get("Minimum", 1.0)), 0.0):
                return True
        return False
