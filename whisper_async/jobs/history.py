"""`jobs`: recent jobs from their records, with their state, newest first."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from ..clients import Clients
from ..errors import UsageError
from ..storage import S3Uri
from .listing import ListingCompletions, s3_lister
from .records import MAX_RECORD_BYTES, JobRecord
from .results import MalformedResultError, failure_message, result_body
from .tracker import JobState, Watch

STATES = ("pending", "done", "failed")


@dataclass(frozen=True)
class JobEntry:
    id: str
    input: str
    state: str
    batch: str
    submitted_at: str
    output: str | None = None
    error: str | None = None
    endpoint: str = ""  # the endpoint it was sent to


def list_jobs(
    clients: Clients,
    since_seconds: int,
    state: str | None = None,
    batch: str | None = None,
    limit: int = 1000,
    endpoint: str | None = None,
) -> list[JobEntry]:
    """Recent jobs from their records, newest first; with `endpoint`, only those sent to it."""
    if state not in {None, *STATES}:
        raise UsageError(f"unknown state {state!r}", "use pending, done or failed")
    if since_seconds <= 0:  # no job is that recent: an empty list would look like no jobs
        raise UsageError("--since 0 covers no time", "use e.g. --since 1d, or 36500d for all")
    s3 = clients.client("s3")
    cutoff = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=since_seconds)
    entries: list[dict[str, Any]] = []
    # A bucket that does not exist is an error (exit 1, with the bucket's hint), not "no jobs":
    # it is most often a typo in --bucket or a region, which "no jobs" would hide.
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=clients.bucket, Prefix=f"{clients.prefix}jobs/"
    ):
        entries += [o for o in page.get("Contents", []) if o["LastModified"] >= cutoff]
    entries.sort(key=lambda o: o["LastModified"], reverse=True)
    records = []
    for listed in entries[:limit]:
        if listed.get("Size", 0) > MAX_RECORD_BYTES:
            continue  # not a record of ours, and not read into memory
        body = s3.get_object(Bucket=clients.bucket, Key=listed["Key"])["Body"].read()
        try:
            record = JobRecord.from_json(body)
        except (ValueError, TypeError):
            continue  # not a record of ours
        if (batch is None or record.batch == batch) and endpoint in (None, record.endpoint):
            records.append(record)
    watches = [
        Watch(
            r.job_id,
            r.inference_id,
            S3Uri.parse(r.output_location),
            S3Uri.parse(r.failure_location) if r.failure_location else None,
            deadline=0.0,
        )
        for r in records
    ]
    # One listing per result folder for all the records, instead of a HEAD per job.
    states = {w.job_id: s for w, s in ListingCompletions(s3_lister(s3)).poll(watches)}
    found: list[JobEntry] = []
    for record, watch in zip(records, watches, strict=True):
        job_state = states.get(record.job_id, JobState.PENDING)
        if state is not None and job_state.value != state:
            continue
        output = error = None
        if job_state is JobState.DONE:
            output = str(watch.output)
        elif job_state is JobState.FAILED and watch.failure is not None:
            failure = s3.get_object(Bucket=watch.failure.bucket, Key=watch.failure.key)
            try:
                error = failure_message(result_body(failure, watch.failure))
            except MalformedResultError as exc:  # one forged object: the listing goes on
                error = exc.message
        found.append(
            JobEntry(
                record.job_id,
                record.source,
                job_state.value,
                record.batch,
                record.submitted_at,
                output,
                error,
                record.endpoint,
            )
        )
    return found
