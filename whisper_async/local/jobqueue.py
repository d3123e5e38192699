"""One endpoint's jobs: waiting in arrival order, then running on some instance's worker.

The queue belongs to the endpoint, not to an instance, so any number of instances (none
included) share it: jobs wait while there is no capacity, and every job is settled once,
by whoever takes it out of the queue first (a worker, the TTL sweep, or the shutdown drain).
"""

from __future__ import annotations

import collections
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .deployment import Deployment

DEFAULT_TTL_SECONDS = 21600  # InvokeEndpointAsync's RequestTTLSeconds default: 6 hours
DEFAULT_INVOCATION_TIMEOUT = 900


@dataclass
class Job:
    inference_id: str
    endpoint: str
    content_type: str | None
    accept: str | None
    custom_attributes: str | None
    input_location: str | None
    body_path: Path | None
    output_location: str
    failure_location: str
    ttl_seconds: int
    invocation_timeout: int
    success_topic: str | None = None
    error_topic: str | None = None
    received: float = field(default_factory=time.time)
    key: str = field(default_factory=lambda: uuid.uuid4().hex)  # InferenceIds may repeat

    def expired(self, now: float) -> bool:
        return now - self.received > self.ttl_seconds


def job_for(
    endpoint: str, params: Mapping[str, Any], deployment: Deployment, body_path: Path | None
) -> Job:
    """A job for validated InvokeEndpointAsync parameters, with AWS's output locations:
    `{S3OutputPath}{S3OutputPathExtension}/{Filename or uuid}.out`, failures `-error.out`."""
    file_name = params.get("Filename") or str(uuid.uuid4())
    extension = str(params.get("S3OutputPathExtension", "")).strip("/")

    def location(base: str, suffix: str) -> str:
        base = base if base.endswith("/") else base + "/"
        return f"{base}{extension + '/' if extension else ''}{file_name}{suffix}"

    return Job(
        inference_id=params.get("InferenceId") or str(uuid.uuid4()),
        endpoint=endpoint,
        content_type=params.get("ContentType"),
        accept=params.get("Accept"),
        custom_attributes=params.get("CustomAttributes"),
        input_location=params.get("InputLocation"),
        body_path=body_path,
        output_location=location(deployment.output_path, ".out"),
        failure_location=location(deployment.failure_path, "-error.out"),
        ttl_seconds=int(params.get("RequestTTLSeconds", DEFAULT_TTL_SECONDS)),
        invocation_timeout=int(params.get("InvocationTimeoutSeconds", DEFAULT_INVOCATION_TIMEOUT)),
        success_topic=deployment.success_topic,
        error_topic=deployment.error_topic,
    )


class JobQueue:
    """Waiting and running jobs behind one condition variable."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._waiting: collections.deque[Job] = collections.deque()
        self._running: dict[str, Job] = {}
        self._open = True

    def put(self, job: Job) -> bool:
        """Queue a job; False once the queue is closed to new work."""
        with self._changed:
            if not self._open:
                return False
            self._waiting.append(job)
            self._changed.notify_all()
            return True

    def take(self, may_take: Callable[[], bool]) -> Job | None:
        """The oldest waiting job, now running; None as soon as `may_take()` is false.

        `may_take` is evaluated under the queue's lock, so it must only read flags; whoever
        changes what it reads calls `wake()` afterwards."""
        with self._changed:
            while may_take():
                if self._waiting:
                    job = self._waiting.popleft()
                    self._running[job.key] = job
                    return job
                self._changed.wait()
            return None

    def settle(self, job: Job) -> bool:
        """Mark a running job finished. False if someone else settled it already (the
        shutdown drain failed it): its result must then be dropped."""
        with self._changed:
            settled = self._running.pop(job.key, None) is not None
            self._changed.notify_all()
            return settled

    def wake(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def close(self) -> None:
        """Refuse new jobs from now on; queued and running ones are unaffected."""
        with self._changed:
            self._open = False
            self._changed.notify_all()

    @property
    def is_open(self) -> bool:
        with self._changed:
            return self._open

    def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing waits or runs; False if `timeout` passed first."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._waiting and not self._running, timeout)

    def withdraw_expired(self, now: float) -> list[Job]:
        """Remove and return waiting jobs whose RequestTTLSeconds has passed."""
        with self._changed:
            expired = [job for job in self._waiting if job.expired(now)]
            for job in expired:
                self._waiting.remove(job)
            return expired

    def withdraw_waiting(self) -> list[Job]:
        with self._changed:
            jobs = list(self._waiting)
            self._waiting.clear()
            return jobs

    def withdraw_all(self) -> list[Job]:
        """Every waiting and running job, each now settled: their workers' results are dropped."""
        with self._changed:
            jobs = [*self._waiting, *self._running.values()]
            self._waiting.clear()
            self._running.clear()
            self._changed.notify_all()
            return jobs

    def counts(self) -> tuple[int, int]:
        """(waiting, running)."""
        with self._changed:
            return len(self._waiting), len(self._running)

    def oldest_received(self) -> float | None:
        with self._changed:
            return min(
                (job.received for job in [*self._waiting, *self._running.values()]), default=None
            )
