"""One `transcribe` batch: stream the inputs, claim, submit and wait, collect the results.

Threads: the caller's (reads inputs, waits, takes Ctrl-C), a pool of workers (`lanes.py`:
hash, claim, upload, invoke; fetch and write results) and one scheduler (`tracker.py`: every
job's state, one listing per tick, heartbeats, takeovers). One cancel event stops them all;
the caller's thread returns at once with what is known, and jobs already queued go on at the
endpoint for a later run (the same command again) to collect.

A job the batch follows is an `OpenJob`, in one of these stages: claimed (its record is ours,
nothing sent), invoking (it may be queued from here on), waiting (in the tracker),
collecting (its result is being read and written) and delivered (every input has its
outcome); then it leaves the batch's table.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import itertools
import logging
import os
import secrets
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..attributes import canonical_options, encode_attributes
from ..files import binary_refused, holds_binary, name_too_long
from ..inputs import Input, content_type
from ..storage import S3Uri
from .destinations import LINK_REFUSED, Claimant, Destination, shared_destination
from .lanes import Lanes
from .listing import ListingCompletions, s3_lister
from .outcomes import BatchReport, InputError, JobOutcome, Progress, Tally, describe_error
from .ownership import HEARTBEAT_SECONDS, Heartbeats, IdleProbe, utc_now
from .records import JobRecord, Owner, RecordStore, Stored, job_id_for, run_extension
from .request import TranscribeRequest
from .results import ForeignResultError, Rendered, deliver, read_result
from .submission import (
    Cancelled,
    Prepared,
    Unanswered,
    Uploads,
    head_object,
    invoke,
    prepare,
    stage,
)
from .takeover import Orphans
from .target import EndpointTarget
from .tracker import CompletionSource, Finished, JobState, JobTracker, Watch

log = logging.getLogger("wasync.jobs")
RELEASE_GRACE = 0.5  # seconds Ctrl-C gives to un-claiming jobs that were never sent
ENDPOINT_CHECK_SECONDS = 60.0  # how often a waiting batch looks that its endpoint still exists


@dataclass(frozen=True)
class Context:
    """One input waiting on a job (identical inputs share a job)."""

    item: Input
    destination: Destination | None

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
    count_throttled: Callable[[], int] = lambda: 0  # throttled attempts botocore retried
    workers: int = 8
    # Why the endpoint's queue is gone (deleted, or deleted and made again), or None
    endpoint_gone: Callable[[], str | None] = lambda: None


@dataclass
class OpenJob:
    watch: Watch
    record: JobRecord
    etag: str
    stage: str
    foreign: bool = False  # claimed by another run, or sent without a clear answer


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
        on_first_send: Callable[[], None] = lambda: None,
    ) -> None:
        self.env = env
        self.on_first_send = on_first_send
        self.request = request
        self.clock = clock
        self.batch_id = batch_id or new_batch_id()
        self.extension = run_extension(self.batch_id) or f"{utc_now():%Y/%m/%d}/{self.batch_id}"
        self.owner = Owner.this_process(self.batch_id)
        self.cancel = threading.Event()
        self.uploads = Uploads()
        self.uploads.watch(env.s3)
        self.report = BatchReport(self.batch_id, waited=request.wait)
        self.tally = Tally(self.report, on_outcome)
        self.options = canonical_options(request.options)  # as hashed, sent and stored
        self.attributes = encode_attributes({**self.options, "format": "json"})
        self.tracker = JobTracker(env.source, self._finished, clock=clock)
        self.orphans = Orphans(env.heartbeats, env.idle, clock)
        self._lanes: Lanes | None = None
        self._lock = threading.Lock()
        self._open: dict[str, OpenJob] = {}
        # a transcript's path -> the input it is for (kept small: batches run to millions)
        self._destinations: dict[str, Claimant] = {}
        self._sequence = itertools.count(1)
        self._submits = 0  # submissions queued or running
        self._sent_any = False
        self._inputs_done = False
        self._all_done = threading.Event()
        self._started = clock()
        self._deadline = self._started + request.timeout
        self._next_beat = 0.0
        self._next_endpoint_check = self._started + ENDPOINT_CHECK_SECONDS

    # ---- running -------------------------------------------------------------------------
    def run(self, inputs: Iterable[Input]) -> BatchReport:
        """Submit every input and, with `wait`, collect every result. Returns on completion,
        on timeout, or at once on Ctrl-C (KeyboardInterrupt) with `interrupted` set."""
        self._lanes = Lanes(self.env.workers, self.cancel)
        try:
            self._beat()
            if self.request.wait:
                threading.Thread(target=self._schedule, name="wasync-tracker", daemon=True).start()
            else:  # the tracker beats with --wait; without it a long upload must not look dead
                threading.Thread(target=self._keep_beating, name="wasync-beat", daemon=True).start()
            self._read_all(inputs)
            with self._lock:
                self._inputs_done = True
            self._check_done()
            while not self._all_done.wait(0.2):
                pass
        except KeyboardInterrupt:
            with _further_interrupts_absorbed():
                self._interrupt()
        finally:
            self._lanes.close()
            self.uploads.unwatch(self.env.s3)
        self.report.failures = self.tally.latest_failures()
        self.report.adopted = self.tally.adopted
        if self.report.interrupted:
            outcomes = self.report.done + self.report.failed + self.report.pending
            self.report.not_sent = max(0, self.tally.read - outcomes)
        self.report.s3_requests = self.env.count_s3()
        self.report.throttled += self.env.count_throttled()
        self.report.seconds = self.clock() - self._started
        return self.report

    def _read_all(self, inputs: Iterable[Input]) -> None:
        """Queue every input; if reading them fails part-way (stdin that is not text, say),
        that is one failed row and the jobs already sent are still collected."""
        try:
            for item in inputs:
                if item.problem:  # a line of stdin that names nothing: a failed row
                    self._fail_input(item)
                elif not self._queue(item):
                    return
        except Exception as exc:
            error = f"reading the inputs stopped: {describe_error(exc)}"
            self.tally.emit(JobOutcome(None, "(inputs)", "failed", error=error))

    def _fail_input(self, item: Input) -> None:
        """An input that names nothing: a failed row, the batch goes on."""
        self.tally.count("read")
        self.tally.emit(JobOutcome(None, item.display, "failed", error=item.problem))

    def progress(self) -> Progress:
        tally, report = self.tally, self.report
        return Progress(
            read=tally.read,
            submitted=tally.submitted,
            adopted=tally.adopted,
            done=report.done,
            failed=report.failed,
            pending=report.pending,
            throttled=report.throttled + self.env.count_throttled(),
            waiting=len(self.tracker),
            seconds=self.clock() - self._started,
            finished_before=tally.finished_before,
            inputs_done=self._inputs_done,
            latest_failures=tuple(tally.latest_failures()[-5:]),
            problem=self.tracker.last_error,
        )

    @property
    def lanes(self) -> Lanes:
        assert self._lanes is not None, "the batch is not running"
        return self._lanes

    def _queue(self, item: Input) -> bool:
        self.tally.count("read")
        destination = self._destination(item)
        if isinstance(destination, JobOutcome):
            self.tally.emit(destination)
            return True
        with self._lock:
            self._submits += 1
        queued = self.lanes.put(functools.partial(self._submit_task, item, destination))
        if not queued:
            with self._lock:
                self._submits -= 1
        return queued

    def _destination(self, item: Input) -> Destination | JobOutcome | None:
        request = self.request
        if request.to_stdout or not request.wait:
            return None  # nothing is written: without --wait the results stay in S3
        name = f"{item.name if request.keep_extension else item.stem}.{request.fmt}"
        # found now, not once the job has run (an S3 key's folders can be longer than a file
        # system's names)
        subfolders = item.subfolder.parts if item.subfolder else ()
        for what, part in [*(("subfolder", p) for p in subfolders), ("name", name)]:
            too_long = name_too_long(part)
            if too_long:
                error = (
                    f"its transcript's {what}, {part!r}, is {too_long}: rename the input, or "
                    "send it without --wait and write the result with `wasync fetch ID -o FILE`"
                )
                return JobOutcome(None, item.display, "failed", error=error)
        if request.output_dir is not None:
            destination = Destination.under(request.output_dir, item.subfolder, name)
        elif item.path is not None:
            destination = Destination.under(item.path.parent, None, name)
        else:  # an S3 object: here, a prefix's in its subfolder (as under -o .)
            destination = Destination.under(Path.cwd(), item.subfolder, name)
        path = destination.path
        if item.path is not None and _same_file(item.path, path):
            error = f"its transcript would be written over the input itself ({path}); use -o DIR"
            return JobOutcome(None, item.display, "failed", error=error)
        if holds_binary(path):  # found before the job runs, not when its transcript is due
            return JobOutcome(None, item.display, "failed", error=str(binary_refused(path)))
        key = str(path.absolute())
        with self._lock:
            claimant = Claimant.of(item)
            first = self._destinations.setdefault(key, claimant)
        if first is not claimant:
            error = shared_destination(path, first, claimant)
            return JobOutcome(None, item.display, "failed", error=error)
        return destination

    def _schedule(self) -> None:
        self.tracker.run(
            self._more_to_come,
            periodic=[self._beat, self._take_over_orphans, self._watch_endpoint],
        )

    def _more_to_come(self) -> bool:
        with self._lock:
            return not (self._inputs_done and self._submits == 0) and not self.cancel.is_set()

    def _check_done(self) -> None:
        with self._lock:
            done = self._inputs_done and self._submits == 0 and not self._open
        if done:
            self._all_done.set()

    # ---- submitting ----------------------------------------------------------------------
    def _submit_task(self, item: Input, destination: Destination | None) -> None:
        try:
            self._submit(Context(item, destination))
        except Cancelled:
            pass
        except Exception as exc:
            self.tally.emit(JobOutcome(None, item.display, "failed", error=describe_error(exc)))
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
            # the failed row names the input: "failed: a.wav: cannot read it: Permission denied"
            raise InputError(f"cannot read it: {exc.strerror or exc}") from None
        job_id = job_id_for(env.target.identity, self.options, prepared.content_id)
        with self._lock:
            existing = self._open.get(job_id)
            if existing is not None and existing.stage != "delivered":
                existing.watch.contexts.append(context)  # the same content twice: one job
                return
        # An existing transcript is kept, unless it came from this very job (a resumed batch).
        destination = context.destination
        link = destination.link_in_the_way() if destination is not None else None
        if link is not None:
            elsewhere = "another -o" if request.output_dir is not None else "-o DIR"
            raise InputError(
                f"{link} {LINK_REFUSED}; remove it, or write elsewhere with {elsewhere}"
            )
        exists = destination is not None and destination.exists() and not request.overwrite
        path = destination.path if destination is not None else None
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
                stored = None if etag else env.records.read(job_id)
            if stored is not None and not self._lost_with_its_endpoint(stored.record):
                self._adopt(stored, context)
                return
            if stored is not None:  # sent to an endpoint deleted since: its queue went too
                if exists:
                    raise InputError(f"{path} already exists; pass --overwrite to replace it")
                etag = env.records.overwrite(record)
            if etag is None:
                raise InputError("another run keeps claiming and releasing this job; re-run")
        self._send(record, etag, prepared, context)

    def _new_record(self, job_id: str, prepared: Prepared) -> JobRecord:
        filename = f"{next(self._sequence):07d}-{job_id}"
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
            options=dict(self.options),
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

    def _params(
        self, record: JobRecord, prepared: Prepared, location: str | None
    ) -> dict[str, Any]:
        params: dict[str, Any] = {
            "EndpointName": self.env.target.name,
            "ContentType": content_type(prepared.item.suffix),
            "Accept": "application/json",  # the client converts: any format later
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
        return params

    def _send(self, record: JobRecord, etag: str, prepared: Prepared, context: Context) -> None:
        env = self.env
        job = OpenJob(self._watch_for(record, [context]), record, etag, "claimed")
        if not self._open_job(job):
            env.records.release(record.job_id, etag)
            return
        with self._lock:
            first, self._sent_any = not self._sent_any, True
        if first:
            self.on_first_send()
        try:
            location = stage(prepared, env.s3, env.bucket, env.prefix, self.cancel, self.uploads)
            params = self._params(record, prepared, location)

            def begin() -> None:
                with self._lock:
                    if self.cancel.is_set():
                        raise Cancelled()
                    job.stage = "invoking"  # the call may queue it: Ctrl-C reports it pending

            def throttled() -> None:
                with self._lock:
                    job.stage = "claimed"  # refused, so not queued: Ctrl-C releases it
                self.tally.count("throttled")

            response = invoke(env.runtime, params, self.cancel, begin, throttled)
        except Unanswered as exc:
            # Queued or not, nobody can say: wait for it, and take it over only once the
            # endpoint has drained, as for a dead run's claim (ownership.py).
            log.warning("no clear answer invoking %s: %s", record.job_id, exc)
            job.foreign = True
            self.orphans.mark_unsure(record.job_id)
            self._track(job)
            return
        except BaseException:
            with self._lock:
                job.stage = "claimed"  # certainly not queued: Ctrl-C does not call it pending
            self._close(job)  # a later run may submit it
            with contextlib.suppress(Exception):
                env.records.release(record.job_id, etag)
            raise
        record = self._confirm(record, response, job)
        self.tally.count("submitted")
        self._track(job)

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

    def _track(self, job: OpenJob) -> None:
        if not self.request.wait:
            outcomes = self._unwaited(job.watch)
            with self._lock:
                job.stage = "delivered"
            for outcome in outcomes:
                self.tally.emit(outcome)
            self._close(job)
            return
        with self._lock:
            if self.cancel.is_set():
                return
            job.stage = "waiting"
        self.tracker.add(job.watch)

    def _unwaited(self, watch: Watch) -> list[JobOutcome]:
        """Each input's row when nobody waits: a job sent now is pending, but one an earlier run
        started may have ended long ago, so one listing looks; its result stays in S3."""
        state = None
        if watch.adopted:
            try:
                state = dict(ListingCompletions(s3_lister(self.env.s3)).poll([watch])).get(watch)
            except Exception as exc:  # not knowing leaves it pending, as it was
                log.warning("could not look for job %s's result: %s", watch.job_id, exc)
        if state is JobState.FAILED and watch.failure is not None:
            try:
                error = str(read_result(self.env.s3, watch.failure, True, self.request.fmt))
            except Exception as exc:
                error = f"the job failed ({watch.failure}); reading why: {describe_error(exc)}"
            return [
                JobOutcome(watch.job_id, c.input, "failed", error=error, by_endpoint=True)
                for c in watch.contexts
            ]
        if state is JobState.DONE:
            note = f"finished earlier; not written without --wait: `wasync fetch {watch.job_id}`"
            return [
                JobOutcome(watch.job_id, c.input, "done", output=str(watch.output), note=note)
                for c in watch.contexts
            ]
        return [JobOutcome(watch.job_id, c.input, "pending") for c in watch.contexts]

    def _lost_with_its_endpoint(self, record: JobRecord) -> bool:
        """The job was sent before this endpoint was made (it was deleted and deployed again
        since) and left neither a result nor a failure: it will never finish, so it is sent
        again. One that finished is delivered as usual."""
        created, submitted = self.env.target.created, record.submitted
        if created is None or submitted is None or submitted >= created:
            return False
        return not any(
            head_object(self.env.s3, S3Uri.parse(location)) is not None
            for location in (record.output_location, record.failure_location)
            if location
        )

    def _adopt(self, stored: Stored, context: Context) -> None:
        """Another run (or an earlier one) started this job: wait for its result."""
        record = stored.record
        job = OpenJob(self._watch_for(record, [context]), record, stored.etag, "waiting")
        job.watch.adopted = True
        job.foreign = record.batch != self.batch_id and record.version >= 2
        if not self._open_job(job):
            return
        self.tally.count("adopted")
        self._track(job)

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
        self.orphans.forget(watch.job_id)
        if finished.before_this_run:
            for _ in watch.contexts:
                self.tally.count("finished_before")
        if timed_out:
            for context in watch.contexts:
                self.tally.emit(JobOutcome(watch.job_id, context.input, "pending"))
            self._close(job)
            self._check_done()
            return
        self.lanes.put_urgent(functools.partial(self._collect, job, finished.state))

    def _collect(self, job: OpenJob, state: JobState) -> None:
        """Read a finished job's result once and deliver it to every input waiting on it,
        including one that joined while this ran."""
        watch, delivered = job.watch, 0
        failed = state is JobState.FAILED
        uri = watch.failure if failed else watch.output
        assert uri is not None
        try:
            result = read_result(
                self.env.s3, uri, failed, self.request.fmt, job.record.input_sha256
            )
        except ForeignResultError as exc:
            result = str(exc)
        except Exception as exc:
            result = f"reading the result failed: {describe_error(exc)}"
        while True:
            with self._lock:
                contexts = watch.contexts[delivered:]
            outcomes = [self._outcome(watch.job_id, c, result, failed) for c in contexts]
            delivered += len(contexts)
            with self._lock:
                if self.cancel.is_set():
                    return  # reported pending by _interrupt
                finished = len(watch.contexts) == delivered
                if finished:
                    job.stage = "delivered"  # no input joins it any more
            for outcome in outcomes:
                self.tally.emit(outcome)
            if finished:
                break
        self._close(job)  # only now: the batch is not done while an outcome is on its way
        self._check_done()

    def _outcome(
        self, job_id: str, context: Context, result: Rendered | str, failed: bool
    ) -> JobOutcome:
        if isinstance(result, str):
            return JobOutcome(job_id, context.input, "failed", error=result, by_endpoint=failed)
        return deliver(job_id, context.input, context.destination, result, self.request.overwrite)

    # ---- background work (scheduler thread) ----------------------------------------------
    def _beat(self) -> None:
        if self.clock() < self._next_beat:
            return
        self._next_beat = self.clock() + HEARTBEAT_SECONDS
        self.env.heartbeats.beat(self.owner, {"endpoint": self.env.target.name})

    def _keep_beating(self) -> None:
        while not self._all_done.wait(HEARTBEAT_SECONDS / 4) and not self.cancel.is_set():
            self._beat()

    def _watch_endpoint(self) -> None:
        """The endpoint deleted while jobs wait: SageMaker writes nothing for the jobs its queue
        held, so each would wait out --timeout. Each one's result is looked for once more, and
        the rest fail, saying why."""
        if self.clock() < self._next_endpoint_check:
            return
        self._next_endpoint_check = self.clock() + ENDPOINT_CHECK_SECONDS
        reason = self.env.endpoint_gone()
        if reason is None:
            return
        with self._lock:
            waiting = [j for j in self._open.values() if j.stage == "waiting"]
        for job in waiting:
            watch = self.tracker.remove(job.watch.job_id)
            if watch is None:
                continue
            seen = dict(ListingCompletions(s3_lister(self.env.s3)).poll([watch]))
            if watch in seen:
                self._finished(Finished(watch, seen[watch]))
                continue
            error = f"{reason} while this job waited; its queue went with it, so it will never finish: deploy, then transcribe it again"
            for context in watch.contexts:
                self.tally.emit(JobOutcome(watch.job_id, context.input, "failed", error=error))
            self._close(job)
        self._check_done()

    def _take_over_orphans(self) -> None:
        """Send the jobs whose claiming run died before it could (takeover.py)."""
        with self._lock:
            foreign = {
                j.record.job_id: j
                for j in self._open.values()
                if j.foreign and j.stage == "waiting"
            }
        for record in self.orphans.ready([j.record for j in foreign.values()]):
            job = foreign[record.job_id]
            watch = self.tracker.remove(job.watch.job_id)
            if watch is None:
                continue
            # Look once more: a result written before the queue drained is listed now.
            seen = dict(self.env.source.poll([watch]))
            if watch in seen:
                self._finished(Finished(watch, seen[watch]))
                continue
            self.orphans.forget(record.job_id)
            with self._lock:
                job.stage = "claimed"
                self._submits += 1
            self.lanes.put_urgent(functools.partial(self._take_over, job))

    def _take_over(self, job: OpenJob) -> None:
        contexts = list(job.watch.contexts)
        try:
            self._close(job)
            prepared = prepare(contexts[0].item, self.request.inline, self.env.s3, self.cancel)
            record = self._new_record(job.record.job_id, prepared)
            etag = self.env.records.take_over(record, job.etag)
            if etag is None:  # another run took it over first: follow that one
                stored = self.env.records.read(job.record.job_id)
                for context in contexts:
                    if stored is not None:
                        self._adopt(stored, context)
                    else:  # released or deleted by that run since: never leave an input out
                        self.tally.emit(
                            JobOutcome(
                                job.record.job_id,
                                context.input,
                                "failed",
                                error="another run took this job over and then removed it; "
                                "run the command again",
                            )
                        )
                return
            self._send(record, etag, prepared, contexts[0])
            with self._lock:
                opened = self._open.get(record.job_id)
                if opened is not None:
                    opened.watch.contexts.extend(contexts[1:])
        except Cancelled:
            pass
        except Exception as exc:
            error = describe_error(exc)
            for context in contexts:
                self.tally.emit(JobOutcome(job.record.job_id, context.input, "failed", error=error))
        finally:
            with self._lock:
                self._submits -= 1
            self._check_done()

    # ---- ending ----------------------------------------------------------------------------
    def _close(self, job: OpenJob) -> None:
        with self._lock:
            if self._open.get(job.record.job_id) is job:
                del self._open[job.record.job_id]

    def _interrupt(self) -> None:
        """Ctrl-C: stop everything now. Claims never sent are released (briefly, in the
        background); jobs already queued are reported pending for a later run."""
        with self._lock:
            self.cancel.set()
            self.report.interrupted = True
            jobs = list(self._open.values())
        self.tracker.cancel()
        self.lanes.close()
        unsent = [j for j in jobs if j.stage == "claimed" and not j.foreign]
        # All at once: one after another, a dozen claims of large uploads outlasted the grace
        # on a loaded machine, and their records stayed claimed by a process that had gone.
        releasers = [
            threading.Thread(target=self._release, args=(job,), daemon=True) for job in unsent
        ]
        started = self.clock()
        for releaser in releasers:
            releaser.start()
        for thread in releasers + self.uploads.abort_all(self.env.s3):
            thread.join(max(0.0, RELEASE_GRACE - (self.clock() - started)))
        # A submission in flight releases its own claim once it sees the cancel: give it the
        # rest of the grace, so a run started right after finds no claim nobody will send.
        self.lanes.join(max(0.0, RELEASE_GRACE - (self.clock() - started)))
        with self._lock:
            queued = [j for j in jobs if j.stage in {"invoking", "waiting", "collecting"}]
        for job in queued:
            for context in job.watch.contexts:
                self.tally.emit(JobOutcome(job.record.job_id, context.input, "pending"))

    def _release(self, job: OpenJob) -> None:
        with contextlib.suppress(Exception):
            self.env.records.release(job.record.job_id, job.etag)


@contextlib.contextmanager
def _further_interrupts_absorbed() -> Iterator[None]:
    """While a Ctrl-C (or SIGTERM) is handled, within RELEASE_GRACE: another is absorbed. A
    second press ended the run there, its unsent claims left for the next run to wait out
    and no summary printed. Signal handlers belong to the main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught = (signal.SIGINT, signal.SIGTERM)
    previous = {number: signal.getsignal(number) for number in caught}
    for number in caught:
        signal.signal(number, lambda *_: None)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _same_file(one: Path, other: Path) -> bool:
    try:
        return os.path.samefile(one, other)
    except OSError:  # the transcript's file does not exist yet
        return False
