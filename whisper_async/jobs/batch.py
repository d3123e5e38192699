"""One `transcribe` batch: stream the inputs, claim, submit and wait, collect the results.

Threads: the caller's (reads inputs, waits, takes Ctrl-C), a pool of workers (`lanes.py`:
hash, claim, upload, invoke; fetch and write results) and one scheduler (`tracker.py`: every
job's state, one listing per tick, heartbeats, takeovers). One cancel event stops them all;
the caller's thread returns at once with what is known, and jobs already queued go on at the
endpoint for a later run (the same command again) to collect.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..attributes import encode_attributes
from ..inputs import Input, content_type
from ..storage import S3Uri
from .lanes import Lanes
from .ownership import HEARTBEAT_SECONDS, Heartbeats, IdleProbe, utc_now
from .records import JobRecord, Owner, RecordStore, Stored, job_id_for
from .results import failure_message, render, write_transcript
from .submission import Cancelled, Prepared, Refused, Unanswered, invoke, prepare, stage
from .target import EndpointTarget
from .tracker import CompletionSource, Finished, JobState, JobTracker, Watch

log = logging.getLogger("wasync.jobs")
DEFAULT_TTL = 6 * 3600
KEEP_FAILURES = 20  # failed rows kept for the summary; --json has every one
KEEP_PENDING = 20
ORPHAN_CHECK_SECONDS = 10.0
RELEASE_GRACE = 0.3  # seconds Ctrl-C gives to un-claiming jobs that were never sent


@dataclass(frozen=True)
class TranscribeRequest:
    options: Mapping[str, Any]
    fmt: str = "txt"
    output_dir: Path | None = None
    overwrite: bool = False
    wait: bool = True
    timeout: float = 3600
    inline: bool = True
    request_ttl: int = DEFAULT_TTL
    invocation_timeout: int = 3600
    rerun: bool = False
    to_stdout: bool = False  # one input, no --output-dir: the transcript goes to stdout


@dataclass(frozen=True)
class JobOutcome:
    """One input's end in this run: done (written), failed, or pending (the job goes on)."""

    id: str | None
    input: str
    state: str
    output: str | None = None
    error: str | None = None
    text: str | None = None  # the transcript, when it goes to stdout
    note: str | None = None


@dataclass
class BatchReport:
    batch: str
    done: int = 0
    failed: int = 0
    pending: int = 0
    waited: bool = True
    interrupted: bool = False
    s3_requests: int = 0
    throttled: int = 0
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
    inputs_done: bool
    latest_failures: tuple[JobOutcome, ...]
    problem: str | None


@dataclass(frozen=True)
class Context:
    """One input waiting on a job (identical inputs share a job)."""

    item: Input
    destination: Path | None

    @property
    def input(self) -> str:
        return self.item.display


@dataclass
class BatchEnv:
    """What a batch talks to; `transcribe.py` builds it from the CLI's clients."""

    s3: Any
    runtime: Any
    bucket: str
    prefix: str
    target: EndpointTarget
    records: RecordStore
    heartbeats: Heartbeats
    idle: IdleProbe
    source: CompletionSource
    count_s3: Callable[[], int] = lambda: 0
    workers: int = 8


@dataclass
class OpenJob:
    watch: Watch
    record: JobRecord
    etag: str
    stage: str  # claimed, invoking, waiting, collecting (closed jobs leave the batch's table)
    foreign: bool = False  # claimed by another run, or sent without a clear answer
    orphan_since: dt.datetime | None = None


def new_batch_id(now: dt.datetime | None = None) -> str:
    now = now or utc_now()
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


class Batch:
    def __init__(
        self,
        env: BatchEnv,
        request: TranscribeRequest,
        on_outcome: Callable[[JobOutcome], None] = lambda outcome: None,
        clock: Callable[[], float] = time.monotonic,
        batch_id: str | None = None,
    ) -> None:
        self.env = env
        self.request = request
        self.on_outcome = on_outcome
        self.clock = clock
        self.batch_id = batch_id or new_batch_id()
        self.extension = f"{utc_now():%Y/%m/%d}/{self.batch_id}"
        self.owner = Owner.this_process(self.batch_id)
        self.cancel = threading.Event()
        self.report = BatchReport(self.batch_id, waited=request.wait)
        self.attributes = encode_attributes({**request.options, "format": "json"})
        self.tracker = JobTracker(env.source, self._finished, clock=clock)
        self._lock = threading.Lock()
        self._open: dict[str, OpenJob] = {}
        self._destinations: set[str] = set()
        self._sequence = itertools.count(1)
        self._latest_failures: deque[JobOutcome] = deque(maxlen=KEEP_FAILURES)
        self._read = self._submitted = self._adopted = 0
        self._submits = 0  # submissions queued or running
        self._inputs_done = False
        self._all_done = threading.Event()
        self._started = clock()
        self._deadline = self._started + request.timeout
        self._next_orphan_check = 0.0
        self.orphan_check_seconds = ORPHAN_CHECK_SECONDS
        self._next_beat = 0.0

    # ---- running -------------------------------------------------------------------------
    def run(self, inputs: Iterable[Input]) -> BatchReport:
        """Submit every input and, with `wait`, collect every result. Returns on completion,
        on timeout, or at once on Ctrl-C (KeyboardInterrupt) with `interrupted` set."""
        lanes = Lanes(self.env.workers, self.cancel)
        self._lanes = lanes
        scheduler = None
        try:
            self._beat()
            if self.request.wait:
                scheduler = threading.Thread(
                    target=self._schedule, name="wasync-tracker", daemon=True
                )
                scheduler.start()
            for item in inputs:
                if not self._queue(item):
                    break
            with self._lock:
                self._inputs_done = True
            self._check_done()
            while not self._all_done.wait(0.2):
                pass
        except KeyboardInterrupt:
            self._interrupt()
        finally:
            lanes.close()
        return self._final_report()

    def _queue(self, item: Input) -> bool:
        with self._lock:
            self._read += 1
        destination = self._destination(item)
        if isinstance(destination, JobOutcome):
            self._emit(destination)
            return True
        with self._lock:
            self._submits += 1
        queued = self._lanes.put(lambda: self._submit_task(item, destination))
        if not queued:
            with self._lock:
                self._submits -= 1
        return queued

    def fail_input(self, item: Input) -> None:
        """An input that names nothing: a failed row, the batch goes on."""
        with self._lock:
            self._read += 1
        self._emit(JobOutcome(None, item.display, "failed", error=item.problem))

    def _destination(self, item: Input) -> Path | JobOutcome | None:
        request = self.request
        if request.to_stdout or not request.wait:
            return None  # nothing is written: without --wait the results stay in S3
        name = f"{item.stem}.{request.fmt}"
        if request.output_dir is not None:
            path = request.output_dir / name
        elif item.path is not None:
            path = item.path.with_name(name)
        else:
            path = Path.cwd() / name
        key = str(path.absolute())
        with self._lock:
            if key in self._destinations:
                return JobOutcome(
                    None,
                    item.display,
                    "failed",
                    error=f"another input of this batch already writes {path}; "
                    "use --output-dir per batch, or rename",
                )
            self._destinations.add(key)
        return path

    def _schedule(self) -> None:
        self.tracker.run(self._more_to_come, periodic=[self._beat, self._check_orphans])

    def _more_to_come(self) -> bool:
        with self._lock:
            return not (self._inputs_done and self._submits == 0) and not self.cancel.is_set()

    def _check_done(self) -> None:
        with self._lock:
            done = self._inputs_done and self._submits == 0 and not self._open
        if done:
            self._all_done.set()

    # ---- submitting ----------------------------------------------------------------------
    def _submit_task(self, item: Input, destination: Path | None) -> None:
        try:
            self._submit(Context(item, destination))
        except Cancelled:
            pass
        except Exception as exc:
            self._emit(JobOutcome(None, item.display, "failed", error=describe_error(exc)))
        finally:
            with self._lock:
                self._submits -= 1
            self._check_done()

    def _submit(self, context: Context) -> None:
        if self.cancel.is_set():
            raise Cancelled()
        env, request, item = self.env, self.request, context.item
        try:
            prepared = prepare(item, request.inline, env.s3, self.cancel)
        except OSError as exc:
            raise InputError(f"cannot read {item.display}: {exc.strerror or exc}") from None
        job_id = job_id_for(env.target.identity, request.options, prepared.content_id)
        with self._lock:
            existing = self._open.get(job_id)
            if existing is not None and existing.stage != "delivered":
                existing.watch.contexts.append(context)  # the same content twice: one job
                return
        # An existing transcript is kept, unless it came from this very job (a resumed batch).
        path = context.destination
        exists = path is not None and path.exists() and not request.overwrite
        record = self._new_record(job_id, prepared)
        if request.rerun:
            if exists:
                raise InputError(f"{path} already exists; pass --overwrite with --rerun")
            etag: str | None = env.records.overwrite(record)
        else:
            etag = env.records.claim(record)
            if etag is not None and exists:
                env.records.release(job_id, etag)
                raise InputError(f"{path} already exists; pass --overwrite to replace it")
        if etag is None:
            stored = env.records.read(job_id)
            if stored is None:  # released between our claim and our read: try once more
                etag = env.records.claim(record)
                if etag is None:
                    stored = env.records.read(job_id)
            if stored is not None and etag is None:
                self._adopt(stored, context)
                return
            if etag is None:
                raise InputError("another run keeps claiming and releasing this job; re-run")
        self._send(record, etag or "", prepared, context)

    def _new_record(self, job_id: str, prepared: Prepared) -> JobRecord:
        sequence = next(self._sequence)
        filename = f"{sequence:07d}-{job_id}"
        output, failure = self.env.target.locations(self.extension, filename)
        return JobRecord(
            job_id=job_id,
            inference_id=f"{job_id}-{self.batch_id}",
            endpoint=self.env.target.name,
            source=prepared.item.display,
            output_location=output,
            failure_location=failure or "",
            input_sha256=None if prepared.item.s3_uri else prepared.content_id,
            input_location=prepared.location,
            options=dict(self.request.options),
            format=self.request.fmt,
            batch=self.batch_id,
            host=self.owner.host,
            pid=self.owner.pid,
            submitted_at=utc_now().isoformat(),
            request_ttl=self.request.request_ttl,
            invocation_timeout=self.request.invocation_timeout,
        )

    def _watch_for(self, record: JobRecord, contexts: list[Context]) -> Watch:
        failure = S3Uri.parse(record.failure_location) if record.failure_location else None
        return Watch(
            job_id=record.job_id,
            inference_id=record.inference_id,
            output=S3Uri.parse(record.output_location),
            failure=failure,
            deadline=self._deadline,
            contexts=list(contexts),
        )

    def _open_job(self, job: OpenJob) -> bool:
        """Register a job this run now follows; False (and the input joins the open job) when
        another input of the batch got there first."""
        with self._lock:
            existing = self._open.get(job.record.job_id)
            if existing is not None and existing.stage != "delivered":
                existing.watch.contexts.extend(job.watch.contexts)
                return False
            self._open[job.record.job_id] = job  # a delivered one leaves by identity (_close)
            return True

    def _send(self, record: JobRecord, etag: str, prepared: Prepared, context: Context) -> None:
        env = self.env
        job = OpenJob(self._watch_for(record, [context]), record, etag, "claimed")
        if not self._open_job(job):
            env.records.release(record.job_id, etag)
            return
        try:
            location = stage(prepared, env.s3, env.bucket, env.prefix, self.cancel)
            params: dict[str, Any] = {
                "EndpointName": env.target.name,
                "ContentType": content_type(prepared.item.suffix),
                "Accept": "application/json",
                "CustomAttributes": self.attributes,
                "InferenceId": record.inference_id,
                "RequestTTLSeconds": self.request.request_ttl,
                "InvocationTimeoutSeconds": self.request.invocation_timeout,
                "S3OutputPathExtension": self.extension,
                "Filename": record.output_location.rsplit("/", 1)[-1].removesuffix(".out"),
            }
            if prepared.body is not None:
                params["Body"] = prepared.body
            else:
                params["InputLocation"] = location
            with self._lock:
                if self.cancel.is_set():
                    raise Cancelled()
                job.stage = "invoking"  # from here on the job may be queued: never released
            response = invoke(env.runtime, params, self.cancel, self._throttled)
        except Unanswered as exc:
            # It may be queued or not: wait for it as for a dead run's claim, which is taken
            # over only once the endpoint has drained (ownership.py).
            log.warning("no clear answer invoking %s: %s", record.job_id, exc)
            job.foreign, job.orphan_since = True, utc_now()
            self._track(job, record)
            return
        except BaseException:
            self._close(job)  # certainly not queued: a later run may submit it
            with contextlib.suppress(Exception):
                env.records.release(record.job_id, etag)
            raise
        record = self._confirm(record, response, job)
        with self._lock:
            self._submitted += 1
        self._track(job, record)

    def _confirm(self, record: JobRecord, response: Mapping[str, Any], job: OpenJob) -> JobRecord:
        """Use where SageMaker says the result will land; rewrite the record if it differs
        from the prediction (endpoints not made by wasync may name files differently)."""
        output = str(response.get("OutputLocation") or record.output_location)
        failure = str(response.get("FailureLocation") or record.failure_location)
        if (output, failure) == (record.output_location, record.failure_location):
            return record
        record = replace(record, output_location=output, failure_location=failure)
        job.etag = self.env.records.overwrite(record)
        job.record = record
        job.watch = self._watch_for(record, job.watch.contexts)
        return record

    def _track(self, job: OpenJob, record: JobRecord) -> None:
        if not self.request.wait:
            with self._lock:
                job.stage = "delivered"
            for context in job.watch.contexts:
                self._emit(JobOutcome(record.job_id, context.input, "pending"))
            self._close(job)
            return
        with self._lock:
            if self.cancel.is_set():
                return
            job.stage = "waiting"
        self.tracker.add(job.watch)

    def _adopt(self, stored: Stored, context: Context) -> None:
        """Another run (or an earlier one) started this job: wait for its result."""
        record = stored.record
        job = OpenJob(self._watch_for(record, [context]), record, stored.etag, "waiting")
        job.watch.adopted = True
        job.foreign = record.batch != self.batch_id and record.version >= 2
        if not self._open_job(job):
            return
        with self._lock:
            self._adopted += 1
        self._track(job, record)

    def _throttled(self) -> None:
        with self._lock:
            self.report.throttled += 1

    # ---- results ---------------------------------------------------------------------------
    def _finished(self, finished: Finished) -> None:
        """The tracker saw a job end (scheduler thread)."""
        watch = finished.watch
        with self._lock:
            job = self._open.get(watch.job_id)
            if job is None or self.cancel.is_set():
                return
            timed_out = finished.state is JobState.TIMED_OUT
            job.stage = "delivered" if timed_out else "collecting"
        if timed_out:
            for context in watch.contexts:
                self._emit(JobOutcome(watch.job_id, context.input, "pending"))
            self._close(job)
            self._check_done()
            return
        self._lanes.put_urgent(lambda: self._collect(job, finished.state))

    def _collect(self, job: OpenJob, state: JobState) -> None:
        """Fetch a finished job's result once and deliver it to every input waiting on it,
        including one that joined while this ran."""
        watch, delivered = job.watch, 0
        try:
            result = self._read_result(watch, state)
        except Exception as exc:
            result = f"reading the result failed: {describe_error(exc)}"
        while True:
            with self._lock:
                contexts = watch.contexts[delivered:]
            outcomes = [self._outcome(watch.job_id, c, state, result) for c in contexts]
            delivered += len(contexts)
            with self._lock:
                if self.cancel.is_set():
                    return  # reported pending by _interrupt
                finished = len(watch.contexts) == delivered
                if finished:
                    job.stage = "delivered"  # no input joins it any more
            for outcome in outcomes:
                self._emit(outcome)
            if finished:
                break
        self._close(job)  # only now: the batch is not done while an outcome is on its way
        self._check_done()

    def _read_result(self, watch: Watch, state: JobState) -> tuple[str, str | None] | str:
        """(text, note) for a result, or the failure's message (a str)."""
        uri = watch.output if state is JobState.DONE else watch.failure
        assert uri is not None
        response = self.env.s3.get_object(Bucket=uri.bucket, Key=uri.key)
        body = response["Body"].read()
        if state is JobState.FAILED:
            return failure_message(body)
        rendered = render(body, response.get("ContentType"), self.request.fmt)
        return rendered.text, rendered.note

    def _outcome(
        self, job_id: str, context: Context, state: JobState, result: tuple[str, str | None] | str
    ) -> JobOutcome:
        if isinstance(result, str):
            return JobOutcome(job_id, context.input, "failed", error=result)
        return self._deliver(job_id, context, *result)

    def _deliver(self, job_id: str, context: Context, text: str, note: str | None) -> JobOutcome:
        path = context.destination
        if path is None:
            return JobOutcome(job_id, context.input, "done", output="-", text=text, note=note)
        try:
            written = write_transcript(path, text, self.request.overwrite)
        except FileExistsError as exc:
            return JobOutcome(job_id, context.input, "failed", error=str(exc))
        except OSError as exc:
            return JobOutcome(
                job_id,
                context.input,
                "failed",
                error=f"could not write {path}: {exc.strerror or exc}; the transcript is kept: "
                f"`wasync fetch {job_id} -o FILE`",
            )
        return JobOutcome(
            job_id,
            context.input,
            "done",
            output=str(path),
            note=note or (written if written == "unchanged" else None),
        )

    # ---- background checks (scheduler thread) --------------------------------------------
    def _beat(self) -> None:
        if self.clock() < self._next_beat:
            return
        self._next_beat = self.clock() + HEARTBEAT_SECONDS
        self.env.heartbeats.beat(self.owner, {"endpoint": self.env.target.name})

    def _check_orphans(self) -> None:
        """Take over jobs whose claiming run died before it could send them (ownership.py)."""
        if self.clock() < self._next_orphan_check:
            return
        self._next_orphan_check = self.clock() + self.orphan_check_seconds
        with self._lock:
            foreign = [j for j in self._open.values() if j.foreign and j.stage == "waiting"]
        now = utc_now()
        for job in foreign:
            if job.orphan_since is None and not self.env.heartbeats.alive(job.record.owner):
                job.orphan_since = now
        orphans = [j for j in foreign if j.orphan_since is not None]
        if not orphans:
            return
        earliest = min(j.orphan_since for j in orphans if j.orphan_since is not None)
        drained = self.env.idle.idle_since(earliest + dt.timedelta(seconds=5))
        for job in orphans:
            if drained or self._expired(job.record, now):
                self._take_over(job)

    @staticmethod
    def _expired(record: JobRecord, now: dt.datetime) -> bool:
        submitted = record.submitted
        if submitted is None:
            return False
        limit = record.request_ttl + record.invocation_timeout + 60
        return (now - submitted).total_seconds() > limit

    def _take_over(self, job: OpenJob) -> None:
        watch = self.tracker.remove(job.watch.job_id)
        if watch is None:
            return
        # Look once more: a result written before the queue drained is listed now.
        for seen, state in self.env.source.poll([watch]):
            if seen is watch:
                self._finished(Finished(watch, state))
                return
        with self._lock:
            job.stage = "claimed"
            self._submits += 1
        self._lanes.put_urgent(lambda: self._take_over_task(job))

    def _take_over_task(self, job: OpenJob) -> None:
        contexts = list(job.watch.contexts)
        try:
            self._close(job)
            prepared = prepare(contexts[0].item, self.request.inline, self.env.s3, self.cancel)
            record = self._new_record(job.record.job_id, prepared)
            etag = self.env.records.take_over(record, job.etag)
            if etag is None:  # another run took it over first: follow that one
                stored = self.env.records.read(job.record.job_id)
                if stored is not None:
                    for context in contexts:
                        self._adopt(stored, context)
                return
            self._send(record, etag, prepared, contexts[0])
            with self._lock:
                opened = self._open.get(record.job_id)
                if opened is not None:
                    opened.watch.contexts.extend(contexts[1:])
        except Cancelled:
            pass
        except Exception as exc:
            for context in contexts:
                self._emit(
                    JobOutcome(
                        job.record.job_id, context.input, "failed", error=describe_error(exc)
                    )
                )
        finally:
            with self._lock:
                self._submits -= 1
            self._check_done()

    # ---- ending ----------------------------------------------------------------------------
    def _close(self, job: OpenJob) -> None:
        with self._lock:
            if self._open.get(job.record.job_id) is job:
                del self._open[job.record.job_id]

    def _emit(self, outcome: JobOutcome) -> None:
        with self._lock:
            if outcome.state == "done":
                self.report.done += 1
            elif outcome.state == "failed":
                self.report.failed += 1
                self._latest_failures.append(outcome)
            else:
                self.report.pending += 1
                if outcome.id and len(self.report.pending_ids) < KEEP_PENDING:
                    self.report.pending_ids.append(outcome.id)
        try:
            self.on_outcome(outcome)
        except Exception:
            log.exception("showing an outcome failed")

    def _interrupt(self) -> None:
        """Ctrl-C: stop everything now. Claims never sent are released (briefly, in the
        background); jobs already queued are reported pending for a later run."""
        with self._lock:
            self.cancel.set()
            self.report.interrupted = True
            jobs = list(self._open.values())
        self.tracker.cancel()
        self._lanes.close()
        unsent = [j for j in jobs if j.stage == "claimed" and not j.foreign]
        releaser = threading.Thread(target=self._release_quietly, args=(unsent,), daemon=True)
        releaser.start()
        releaser.join(RELEASE_GRACE)
        for job in jobs:
            if job.stage in {"invoking", "waiting", "collecting"}:
                for context in job.watch.contexts:
                    self._emit(JobOutcome(job.record.job_id, context.input, "pending"))

    def _release_quietly(self, jobs: list[OpenJob]) -> None:
        for job in jobs:
            with contextlib.suppress(Exception):
                self.env.records.release(job.record.job_id, job.etag)

    def _final_report(self) -> BatchReport:
        report = self.report
        with self._lock:
            report.failures = list(self._latest_failures)
        report.s3_requests = self.env.count_s3()
        report.seconds = self.clock() - self._started
        return report

    def progress(self) -> Progress:
        with self._lock:
            report = self.report
            return Progress(
                read=self._read,
                submitted=self._submitted,
                adopted=self._adopted,
                done=report.done,
                failed=report.failed,
                pending=report.pending,
                throttled=report.throttled,
                waiting=len(self.tracker),
                seconds=self.clock() - self._started,
                inputs_done=self._inputs_done,
                latest_failures=tuple(self._latest_failures)[-5:],
                problem=self.tracker.last_error,
            )


class InputError(Exception):
    """This input cannot be submitted; its row fails, the batch goes on."""


def describe_error(exc: BaseException) -> str:
    """One line for a failed row: our messages as they are, AWS errors translated."""
    if isinstance(exc, Refused | Unanswered) and exc.__cause__ is not None:
        exc = exc.__cause__
    if isinstance(exc, InputError | ValueError):
        return str(exc)
    from ..errors import translate

    translated = translate(exc)
    if translated is not None:
        return str(translated)
    return f"unexpected {type(exc).__name__}: {exc}"
