"""The one scheduler that owns every job's state while a batch waits.

Each job the batch waits for is a `Watch`: pending until its result or its failure object
appears (done / failed), or until the batch's deadline passes (timed out; the job goes on at
the endpoint). A `CompletionSource` says which watched jobs have finished: one ListObjectsV2
per tick over the batch's output and failure prefixes (`listing.py`), or an SQS queue of
SageMaker's notifications (`notifications.py`). One thread ticks; the cadence is quick at
first and slows while nothing finishes, down to what the jobs' observed duration allows.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..storage import S3Uri

log = logging.getLogger("wasync.jobs")


class JobState(enum.Enum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"
    TIMED_OUT = "timed out"


@dataclass(eq=False)
class Watch:
    """One job the tracker waits for. `contexts` carries what the caller needs when it ends
    (where its transcript goes); two inputs with the same content share one watch."""

    job_id: str
    inference_id: str
    output: S3Uri
    failure: S3Uri | None
    deadline: float
    contexts: list[Any] = field(default_factory=list)
    added_at: float = 0.0
    adopted: bool = False  # started by another run: it may have finished long ago
    looked: bool = False  # polled at least once


@dataclass(frozen=True)
class Finished:
    watch: Watch
    state: JobState
    # an earlier run's job, ended when this run first looked: not this run's throughput
    before_this_run: bool = False


class CompletionSource(Protocol):
    """Which of the watched jobs have finished; `wake` is set when it is worth looking now."""

    wake: threading.Event

    def expect(self, watch: Watch) -> None: ...

    def poll(self, watches: Sequence[Watch]) -> list[tuple[Watch, JobState]]: ...


@dataclass(frozen=True)
class Cadence:
    """When to look next.

    While results arrive, wait for about `per_tick` of them (at the rate they have been
    arriving; once no more jobs will come, never for more than are pending), within the
    ceiling: a listing then reads several results at once, so its cost per job stays small,
    and no job waits long. While nothing arrives,
    slow down by `factor` per tick, up to a ceiling that grows with how long jobs take (a tenth
    of the typical job, within [floor_cap, cap]). Until a first job has ended the ceiling is
    `unknown_cap`, or a tenth of how long the oldest job has waited once that is more: a job
    that has taken 4 minutes so far gains at most a tenth from a slower look, and one that sat
    behind a slow job for 4 minutes cost 106 listings at a look every 5 s (64 now).
    """

    first: float = 0.25
    factor: float = 1.5
    floor_cap: float = 2.0
    cap: float = 30.0
    unknown_cap: float = 5.0
    per_tick: int = 8

    def next(
        self,
        delay: float,
        found: int,
        typical_job: float | None,
        rate: float = 0.0,
        pending: int = 0,
        waited: float = 0.0,
    ) -> float:
        if typical_job is None:
            ceiling = min(self.cap, max(self.unknown_cap, waited / 10))
        else:
            ceiling = self.ceiling(typical_job)
        if not found:
            return min(ceiling, delay * self.factor)
        wanted = max(1, min(self.per_tick, pending))
        if rate <= 0:
            return max(self.first, delay / 2)
        return min(ceiling, max(self.first, wanted / rate))

    def ceiling(self, typical_job: float) -> float:
        return min(self.cap, max(self.floor_cap, typical_job / 10))


def wait_on(seconds: float, wake: threading.Event) -> None:
    wake.wait(seconds)


class JobTracker:
    """Pending → done / failed / timed out, for every job of a batch, from one thread."""

    def __init__(
        self,
        source: CompletionSource,
        on_finished: Callable[[Finished], None],
        clock: Callable[[], float] = time.monotonic,
        cadence: Cadence = Cadence(),
        pause: Callable[[float, threading.Event], None] = wait_on,
        fatal: tuple[type[Exception], ...] = (),
    ) -> None:
        self.source = source
        self.fatal = fatal  # errors a retry cannot mend (fetch: a bucket that does not exist)
        self.on_finished = on_finished
        self.clock = clock
        self.cadence = cadence
        self.pause = pause
        self.delay = cadence.first
        self.typical_job: float | None = None  # moving average of submission-to-result time
        self.rate = 0.0  # moving average of jobs ending per second
        self._last_tick: float | None = None
        self._more_to_come: Callable[[], bool] = lambda: False
        self.ticks = 0
        self.last_error: str | None = None
        self._pending: dict[str, Watch] = {}
        self._lock = threading.Lock()
        self._cancelled = threading.Event()

    # ---- what the batch does -------------------------------------------------------------
    def add(self, watch: Watch) -> Watch:
        """Track a job; a job already tracked gains the new watch's contexts instead."""
        with self._lock:
            if self._cancelled.is_set():
                return watch
            existing = self._pending.get(watch.job_id)
            if existing is not None:
                existing.contexts.extend(watch.contexts)
                return existing
            watch.added_at = watch.added_at or self.clock()
            was_idle = not self._pending
            self._pending[watch.job_id] = watch
        self.source.expect(watch)
        if was_idle and not self.rate:
            # The first job, or one after a quiet spell: look soon, not at the slow cadence.
            # (While results flow, the cadence set by their rate is kept: jobs trickling in one
            # at a time would otherwise each cost a few listings of their own.)
            self.delay = self.cadence.first
            self.source.wake.set()
        return watch

    def remove(self, job_id: str) -> Watch | None:
        with self._lock:
            return self._pending.pop(job_id, None)

    def cancel(self) -> None:
        """Stop: nothing changes state after this; what is pending stays pending."""
        with self._lock:
            self._cancelled.set()
        self.source.wake.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def pending(self) -> list[Watch]:
        with self._lock:
            return list(self._pending.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._pending)

    # ---- the scheduler -------------------------------------------------------------------
    def tick(self) -> float:
        """Look once; hand every job that ended to `on_finished`. Returns the next delay."""
        watches = self.pending()
        if not watches:
            return self.delay  # nothing to look for: the cadence stays as it was
        found = self.source.poll(watches)
        now = self.clock()
        ended: list[Finished] = []
        with self._lock:
            if self._cancelled.is_set():
                return 0.0  # a result that lands while cancelling is left for a later run
            for watch, state in found:
                if self._pending.get(watch.job_id) is watch:
                    del self._pending[watch.job_id]
                    earlier = watch.adopted and not watch.looked
                    ended.append(Finished(watch, state, before_this_run=earlier))
                    if not earlier:
                        self._learn(now - watch.added_at)
            for watch in watches:
                watch.looked = True
            for watch in list(self._pending.values()):
                if now >= watch.deadline:
                    del self._pending[watch.job_id]
                    ended.append(Finished(watch, JobState.TIMED_OUT))
            next_deadline = min((w.deadline for w in self._pending.values()), default=None)
            oldest = min((w.added_at for w in self._pending.values()), default=now)
        self.ticks += 1
        ran_now = [f for f in ended if f.state is not JobState.TIMED_OUT and not f.before_this_run]
        self._measure_rate(now, len(ran_now))
        for finished in ended:
            self.on_finished(finished)
        expected = len(self) + (self.cadence.per_tick if self._more_to_come() else 0)
        self.delay = self.cadence.next(
            self.delay, len(found), self.typical_job, self.rate, expected, waited=now - oldest
        )
        if next_deadline is not None:
            self.delay = max(0.0, min(self.delay, next_deadline - now))
        return self.delay

    def _measure_rate(self, now: float, found: int) -> None:
        last, self._last_tick = self._last_tick, now
        if last is not None and now > last:
            current = found / (now - last)
            self.rate = current if not self.rate else 0.7 * self.rate + 0.3 * current

    def _learn(self, seconds: float) -> None:
        average = self.typical_job
        self.typical_job = seconds if average is None else 0.8 * average + 0.2 * seconds

    def run(
        self,
        more_to_come: Callable[[], bool],
        periodic: Sequence[Callable[[], None]] = (),
    ) -> None:
        """Tick until cancelled, or until nothing is pending and no more jobs will come.
        A failing tick is logged and retried at the slower cadence: this thread never dies
        silently while jobs wait on it."""
        self._more_to_come = more_to_come
        while not self._cancelled.is_set():
            try:
                delay = self.tick()
                self.last_error = None
            except self.fatal:
                raise
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("checking for results failed: %s", self.last_error)
                self.delay = delay = min(self.cadence.cap, max(1.0, self.delay * 2))
            for task in periodic:
                try:
                    task()
                except Exception as exc:
                    log.warning("background check failed: %s: %s", type(exc).__name__, exc)
            if not len(self) and not more_to_come():
                return
            self.source.wake.clear()
            if not self._cancelled.is_set():
                self.pause(delay, self.source.wake)
