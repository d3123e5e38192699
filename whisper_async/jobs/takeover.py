"""Which jobs claimed by other runs may be taken over (the rules are in ownership.py): their
claiming process is gone, and since then the endpoint drained or their TTL ran out."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence

from .ownership import Heartbeats, IdleProbe, utc_now
from .records import JobRecord

CHECK_SECONDS = 10.0
MARGIN = dt.timedelta(seconds=5)  # after the owner was seen gone, before a sample counts


class Orphans:
    def __init__(
        self,
        heartbeats: Heartbeats,
        idle: IdleProbe,
        clock: Callable[[], float] = time.monotonic,
        every: float = CHECK_SECONDS,
    ) -> None:
        self.heartbeats = heartbeats
        self.idle = idle
        self.clock = clock
        self.every = every
        self._next = 0.0
        self._gone_since: dict[str, dt.datetime] = {}  # job id -> when its owner was seen gone

    def mark_unsure(self, job_id: str) -> None:
        """This run sent the job without a clear answer: treat it like a dead run's claim."""
        self._gone_since.setdefault(job_id, utc_now())

    def ready(self, claims: Sequence[JobRecord]) -> list[JobRecord]:
        """The claims (of jobs still pending) that can now be taken over; at most every
        `every` seconds, as it reads heartbeats and CloudWatch."""
        if self.clock() < self._next:
            return []
        self._next = self.clock() + self.every
        now = utc_now()
        for record in claims:
            if record.job_id not in self._gone_since and not self.heartbeats.alive(record.owner):
                self._gone_since[record.job_id] = now
        orphans = [r for r in claims if r.job_id in self._gone_since]
        if not orphans:
            return []
        # Each claim by its own moment: an idle sample from before its owner was seen gone
        # (or before this run's unsure send) says nothing about it. One read per moment.
        drained: dict[dt.datetime, bool] = {}

        def is_drained(record: JobRecord) -> bool:
            since = self._gone_since[record.job_id]
            if since not in drained:
                drained[since] = self.idle.idle_since(since + MARGIN)
            return drained[since]

        return [r for r in orphans if expired(r, now) or is_drained(r)]

    def forget(self, job_id: str) -> None:
        self._gone_since.pop(job_id, None)


def expired(record: JobRecord, now: dt.datetime) -> bool:
    """Past its TTL and invocation timeout: had it been queued, it would have ended."""
    submitted = record.submitted
    if submitted is None:
        return False
    limit = record.request_ttl + record.invocation_timeout + 60
    return (now - submitted).total_seconds() > limit
