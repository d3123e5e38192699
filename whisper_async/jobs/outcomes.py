"""What reaches the user from a batch: one outcome per input, the counts, the report."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("wasync.jobs")
KEEP_FAILURES = 20  # failed rows kept for the summary; --json has every one
KEEP_PENDING = 20  # pending ids the summary names


@dataclass(frozen=True)
class JobOutcome:
    """One input's end in this run: done (written; without --wait, finished, its result left in
    S3), failed, or pending (the job goes on)."""

    id: str | None
    input: str
    state: str
    output: str | None = None
    error: str | None = None
    text: str | None = None  # the transcript, when it goes to stdout
    note: str | None = None
    by_endpoint: bool = False  # the endpoint failed it: only `--rerun` sends the input again


@dataclass
class BatchReport:
    batch: str
    done: int = 0
    failed: int = 0
    failed_by_endpoint: int = 0  # of `failed`: the others (a file, a folder) were not sent
    pending: int = 0
    not_sent: int = 0  # inputs read but not sent when the run was interrupted: no row
    waited: bool = True
    interrupted: bool = False
    s3_requests: int = 0
    throttled: int = 0
    adopted: int = 0  # jobs an earlier run sent: their records name that run's batch
    seconds: float = 0.0
    failures: list[JobOutcome] = field(default_factory=list)  # the latest KEEP_FAILURES
    pending_ids: list[str] = field(default_factory=list)  # the first KEEP_PENDING


@dataclass(frozen=True)
class Progress:
    """What the live view shows, read from any thread."""

    read: int
    submitted: int
    adopted: int
    done: int
    failed: int
    pending: int
    throttled: int
    waiting: int
    seconds: float
    # of done + failed: jobs an earlier run sent that had ended when this run first looked
    finished_before: int
    inputs_done: bool
    latest_failures: tuple[JobOutcome, ...]
    problem: str | None


class Tally:
    """Counts what a batch did and passes every outcome on, from any thread. Memory stays
    flat: only the latest failures and the first pending ids are kept."""

    def __init__(self, report: BatchReport, on_outcome: Callable[[JobOutcome], None]) -> None:
        self.report = report
        self.on_outcome = on_outcome
        self.read = self.submitted = self.adopted = self.finished_before = 0
        self._failures: deque[JobOutcome] = deque(maxlen=KEEP_FAILURES)
        self._lock = threading.Lock()

    def count(self, what: str) -> None:
        """One more input read, job submitted or adopted, adopted job found already ended, or
        request throttled."""
        with self._lock:
            if what == "throttled":
                self.report.throttled += 1
            else:
                setattr(self, what, getattr(self, what) + 1)

    def emit(self, outcome: JobOutcome) -> None:
        with self._lock:
            report = self.report
            if outcome.state == "done":
                report.done += 1
            elif outcome.state == "failed":
                report.failed += 1
                report.failed_by_endpoint += outcome.by_endpoint
                self._failures.append(outcome)
            else:
                report.pending += 1
                if outcome.id and len(report.pending_ids) < KEEP_PENDING:
                    report.pending_ids.append(outcome.id)
        try:
            self.on_outcome(outcome)
        except Exception:
            log.exception("showing an outcome failed")

    def latest_failures(self) -> list[JobOutcome]:
        with self._lock:
            return list(self._failures)


class InputError(Exception):
    """This input cannot be submitted; its row fails, the batch goes on."""


def describe_error(exc: BaseException) -> str:
    """One line for a failed row: our messages as they are, AWS errors translated."""
    from ..aws import translate
    from .submission import Refused, Unanswered

    if isinstance(exc, Refused | Unanswered) and exc.__cause__ is not None:
        exc = exc.__cause__  # the error behind it
    if isinstance(exc, InputError | ValueError):
        return str(exc)
    translated = translate(exc)
    if translated is not None:
        return str(translated)
    if isinstance(exc, OSError) and exc.strerror:  # the system's words, not "unexpected"
        return f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    return f"unexpected {type(exc).__name__}: {exc}"
