"""`fetch`: one job's result, by job id, inference id or result URI, from any machine."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from .. import formats, naming
from ..clients import Clients
from ..durations import format_duration
from ..errors import NotFoundError, UsageError, WaitTimeoutError, WasyncError
from ..files import (
    UnsafeDestinationError,
    binary_refused,
    check_writable,
    final_target,
    holds_binary,
    is_binary,
    name_too_long,
    write_atomically,
)
from ..resources import find_endpoint
from ..settings import ENDPOINT_NAME
from ..storage import S3Uri
from .listing import Lister, ListingCompletions, s3_lister
from .records import JOB_ID_LENGTH, JobRecord, RecordStore, get_object_or_none, run_extension
from .results import failure_message, render, result_body
from .target import EndpointTarget, describe_target
from .tracker import JobState, JobTracker, Watch

_FILENAME = re.compile(rf"^\d{{7}}-(?P<job>[0-9a-f]{{{JOB_ID_LENGTH}}})$", re.ASCII)
_JOB_ID = re.compile(rf"^(?P<job>[0-9a-f]{{{JOB_ID_LENGTH}}})(-.+)?$")
SHORTEST_ID = 6
# job ids are hex; inference ids add a batch ("-" and more), older records' are UUIDs
_ID_SHAPE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._:-]{0,199}$")
_SHORT_ID = re.compile(rf"^[0-9a-f]{{{SHORTEST_ID},{JOB_ID_LENGTH - 1}}}$")


@dataclass(frozen=True)
class Fetched:
    id: str | None
    input: str
    state: str  # done, failed, pending (only in StillPending)
    format: str
    output: str | None = None  # the file written; None when the text goes to stdout
    text: str | None = None
    error: str | None = None
    note: str | None = None


class StillPending(WaitTimeoutError):
    """A job with no result yet (exit 3). It carries the job as a Fetched in the state
    "pending", so that `--json` can print a document for it as for every other state."""

    def __init__(self, pending: Fetched, message: str, hint: str) -> None:
        super().__init__(message, hint)
        self.pending = pending


def record_id(reference: str) -> str:
    """The record a reference names: a job id, an inference id (job id + run), or the id of
    a record written by an older wasync (its inference id)."""
    match = _JOB_ID.fullmatch(reference)
    return match.group("job") if match else reference


def run_of(record: JobRecord, inference_id: str, keys: Lister) -> JobRecord:
    """The record of the job's run `inference_id` names: the record follows a job's latest run,
    and an earlier run's result lies under its own batch's folder (`run_extension`), named by
    the job's place in that batch, which only a listing of the folder tells."""
    latest = run_extension(record.inference_id.removeprefix(f"{record.job_id}-"))
    wanted = run_extension(inference_id.removeprefix(f"{record.job_id}-"))
    if latest is None or wanted is None or f"/{latest}/" not in record.output_location:
        raise NotFoundError(
            f"No run {inference_id} of job {record.job_id}: its latest run is "
            f"{record.inference_id}.",
            f"fetch {record.job_id} for the latest run, or an earlier run's s3:// result URI",
        )

    def folder(location: str) -> S3Uri:
        moved = S3Uri.parse(location.replace(f"/{latest}/", f"/{wanted}/", 1))
        return S3Uri(moved.bucket, moved.key.rsplit("/", 1)[0] + "/")

    outputs = folder(record.output_location)
    failures = folder(record.failure_location) if record.failure_location else None
    for where, ending in ((outputs, ".out"), (failures, "-error.out")):
        stem = _run_file(keys, where, record.job_id, ending) if where else None
        if stem is not None:
            return replace(
                record,
                inference_id=inference_id,
                output_location=f"{outputs}{stem}.out",
                failure_location=f"{failures}{stem}-error.out" if failures else "",
            )
    raise NotFoundError(
        f"Run {inference_id} of job {record.job_id} has no result or failure under "
        f"{outputs}: it has not finished, or never ran.",
        f"fetch {record.job_id} for its latest run ({record.inference_id})",
    )


def _run_file(keys: Lister, folder: S3Uri, job_id: str, ending: str) -> str | None:
    """The stem (`{place in the batch}-{job id}`) of the job's file in `folder`, if any."""
    for key in keys(folder.bucket, folder.key, ""):
        match = _FILENAME.fullmatch(key[len(folder.key) :].removesuffix(ending))
        if key.endswith(ending) and match and match.group("job") == job_id:
            return match.group(0)
    return None


def id_from_location(uri: S3Uri) -> str | None:
    name = uri.key.rsplit("/", 1)[-1].removesuffix(".out").removesuffix("-error")
    match = _FILENAME.fullmatch(name)
    return match.group("job") if match else (name or None)


def check_output(output: Path | None, overwrite: bool) -> None:
    """Refuse, before anything is read, an -o that exists (without --overwrite) or that is
    not a regular file: a device, a folder or a FIFO is never replaced."""
    if output is None:
        return
    too_long = name_too_long(output.name)
    if too_long:
        raise UsageError(f"the file name of {output} is {too_long}", "pass a shorter name")
    try:
        target = final_target(output)
    except UnsafeDestinationError as exc:
        raise UsageError(str(exc), "pass the path of a regular file") from None
    if target.exists() and not overwrite:
        raise UsageError(f"{output} already exists", "pass --overwrite to replace it")
    if output.is_symlink() and not overwrite:  # a link to nothing: written through, it makes
        raise UsageError(  # a file wherever it points (as `set -o noclobber` refuses too)
            f"{output} is a link to {target}, which does not exist",
            "pass --overwrite to write there, or name another file",
        )
    if target.exists() and holds_binary(target):
        raise UsageError(str(binary_refused(output)), "write the transcript to another file")
    if not target.parent.is_dir():
        raise UsageError(f"the folder of {output} does not exist", "create it first")
    try:  # found out now, not after the wait for the result
        check_writable(target.parent)
    except OSError as exc:
        raise UsageError(
            f"cannot write {output}: {exc.strerror or exc}", "pass a file in a folder you can write"
        ) from None


class Fetcher:
    def __init__(self, clients: Clients, clock: Callable[[], float] = time.monotonic) -> None:
        self.s3 = clients.client("s3")
        self.records = RecordStore(self.s3, clients.bucket, clients.prefix)
        self.listing = ListingCompletions(s3_lister(self.s3))
        self.clock = clock

    def find(self, reference: str) -> tuple[JobRecord | None, S3Uri | None]:
        """(record, None) for a job id; (record or None, uri) for an s3:// result URI."""
        if reference.startswith("s3://"):
            uri = S3Uri.parse(reference)
            job_id = id_from_location(uri)
            stored = self.records.read(job_id) if job_id else None
            if stored is not None and reference in {
                stored.record.output_location,
                stored.record.failure_location,
            }:
                return stored.record, uri
            return None, uri
        if not _ID_SHAPE.fullmatch(reference):
            shown = reference if len(reference) <= 60 else reference[:57] + "..."
            raise UsageError(
                f"{shown!r} is not a job id",
                "pass a job id (`wasync jobs` lists them), an inference id, or a result's "
                "s3:// URI",
            )
        if re.fullmatch(r"[0-9a-fA-F]{6,}(-[0-9A-Za-z-]+)?", reference):
            reference = reference.lower()  # ids are lower-case hex; one pasted upper-cased
        job_id = self._whole_id(reference)
        stored = self.records.read(job_id)
        other_run = reference.startswith(f"{job_id}-")  # `--rerun` sent the job again since
        if stored is not None and other_run and reference != stored.record.inference_id:
            return run_of(stored.record, reference, s3_lister(self.s3)), None
        if stored is None:
            if re.fullmatch(f"[0-9a-f]{{1,{SHORTEST_ID - 1}}}", reference):
                raise UsageError(
                    f"{reference} is too short to name a job",
                    f"give at least {SHORTEST_ID} characters of its id (`wasync jobs` lists them)",
                )
            if _SHORT_ID.fullmatch(reference):
                folder = str(self.records.uri(job_id)).rsplit("/", 1)[0] + "/"
                raise NotFoundError(
                    f"No job id begins with {reference} under {folder}.",
                    "check the ID (`wasync jobs` lists them), --bucket and --prefix",
                )
            raise NotFoundError(
                f"No job {reference} under {self.records.uri(job_id)}.",
                "check the ID, --bucket and --prefix; for a request wasync did not send (an "
                "inference id from the AWS CLI or the SDK), fetch its OutputLocation s3:// URI",
            )
        return stored.record, None

    def _whole_id(self, reference: str) -> str:
        """A job id, an inference id, or the start of a job id (at least SHORTEST_ID digits)
        that only one job's id begins with."""
        if not _SHORT_ID.fullmatch(reference):
            return record_id(reference)
        found = self.records.ids_starting(reference)
        if len(found) > 1:
            raise UsageError(
                f"more than one job id begins with {reference} ({', '.join(found)}, ...)",
                "give more of the id (`wasync jobs` lists them)",
            )
        return found[0] if found else reference

    def state(self, record: JobRecord, wait: bool, timeout: float) -> tuple[JobState, Watch]:
        """One look, or with `wait` as many as it takes (one listing per tick)."""
        return self.wait_for(
            record.job_id,
            record.inference_id,
            record.output_location,
            record.failure_location,
            timeout if wait else 0.0,
        )

    def wait_for(
        self, job_id: str, inference_id: str, output: str, failure: str | None, timeout: float
    ) -> tuple[JobState, Watch]:
        watch = Watch(
            job_id,
            inference_id,
            S3Uri.parse(output),
            S3Uri.parse(failure) if failure else None,
            deadline=self.clock() + timeout,
        )
        ended: list[JobState] = []
        # A bucket that does not exist will not come to hold the result: say so, do not retry.
        tracker = JobTracker(
            self.listing, lambda f: ended.append(f.state), clock=self.clock, fatal=(NotFoundError,)
        )
        tracker.add(watch)
        tracker.run(more_to_come=lambda: False)
        return (ended[0] if ended else JobState.TIMED_OUT), watch

    def read(self, uri: S3Uri) -> tuple[bytes, str | None] | None:
        response = get_object_or_none(self.s3, uri)
        if response is None:
            return None
        return result_body(response, uri), response.get("ContentType")


def check_endpoint_outlived(clients: Clients, record: JobRecord) -> None:
    """NotFoundError when the pending job's endpoint was deleted (or deleted and made again)
    since the job was sent: its queue went with it, so no result will ever come."""
    try:
        described = find_endpoint(clients, record.endpoint)
    except WasyncError:
        return  # not allowed to look: it stays pending
    created = described.get("CreationTime") if described else None
    submitted = record.submitted
    if described is None:
        deleted = f"its endpoint {record.endpoint} was deleted"
    elif isinstance(created, dt.datetime) and submitted is not None and created > submitted:
        deleted = (
            f"its endpoint {record.endpoint} was deleted and made again after the job was sent"
        )
    else:
        return
    raise NotFoundError(
        # `delete --purge` removes results too, so a job that did finish looks the same
        f"Job {record.job_id} has no result, and none will come: {deleted}, before the job "
        "wrote a result or with its result (`delete --purge`).",
        f"transcribe {record.source} again",
    )


def fetch(
    clients: Clients,
    reference: str,
    fmt: str | None = None,
    output: Path | None = None,
    wait: bool = False,
    timeout: float = 3600,
    overwrite: bool = False,
) -> Fetched:
    """A job's result in the format asked for (converted when it can be); a failed job's
    reason; NotFoundError, or StillPending while it is still pending."""
    if not reference.strip():  # "$ID" with ID unset
        raise UsageError(
            "the job id is empty",
            "pass a job id (`wasync jobs` lists them) or the job's s3:// output URI",
        )
    if output is not None and str(output) == "-":
        output = None  # `-o -`: stdout, as `-` means for transcribe
    if fmt is not None:
        formats.check_format(fmt)
    elif output is not None:  # `-o talk.srt` asks for srt, whatever the job was sent as
        fmt = formats.format_of_file(output.name)
    check_output(output, overwrite)
    fetcher = Fetcher(clients)
    record, uri = fetcher.find(reference)
    if record is None:
        assert uri is not None
        return _fetch_unrecorded(clients, fetcher, uri, fmt, output, wait, timeout, overwrite)
    state, watch = fetcher.state(record, False, timeout)
    if state is JobState.TIMED_OUT:
        check_endpoint_outlived(clients, record)
        if wait:
            state, watch = fetcher.state(record, True, timeout)
    if state is JobState.TIMED_OUT:
        waited = f" after waiting {format_duration(timeout)} (--timeout)" if wait else ""
        raise StillPending(
            Fetched(record.job_id, record.source, "pending", fmt or record.format),
            f"Job {record.job_id} is still pending{waited}.",
            f"wait with `wasync fetch {reference} --wait`"
            if not wait
            else "the endpoint may be scaled to zero or busy; try again later",
        )
    location = watch.output if state is JobState.DONE else watch.failure
    assert location is not None
    found = fetcher.read(location)
    if found is None:
        raise NotFoundError(f"The result of job {record.job_id} at {location} was removed.")
    if state is JobState.FAILED:
        return Fetched(
            record.job_id,
            record.source,
            "failed",
            fmt or record.format,
            error=failure_message(found[0]),
        )
    if is_binary(found[0]):  # a record is as writable as the bucket: it may point anywhere
        raise WasyncError(
            f"The result of job {record.job_id} at {location} holds binary data (audio or "
            "video?), not a transcript.",
            "its record under jobs/ names an object no endpoint wrote; check who may write "
            "to the bucket",
        )
    return _deliver(
        record.job_id,
        record.source,
        found,
        fmt,
        output,
        record.format,
        record.input_sha256,
        overwrite=overwrite,
    )


def failure_beside(output: str, output_path: str | None, failure_path: str | None) -> str | None:
    """Where SageMaker writes the failure of the request whose result goes to `output`: the
    same path and name under the S3FailurePath, ending in -error.out. None when `output` is
    not under the S3OutputPath (another endpoint's, or a moved file)."""
    if not failure_path or not is_under_output_path(output, output_path):
        return None
    assert output_path is not None
    return f"{failure_path}{output[len(output_path) : -len('.out')]}-error.out"


def is_under_output_path(output: str, output_path: str | None) -> bool:
    """Whether `output` is a result an endpoint with this S3OutputPath would write."""
    return bool(output_path) and output.startswith(str(output_path)) and output.endswith(".out")


@dataclass(frozen=True)
class _Unrecorded:
    """Where a request with no wasync record stands: its endpoint (None when there is none to
    finish it, and why), and its failure's location."""

    target: EndpointTarget | None
    missing: str | None  # why no endpoint will finish it
    failure: str | None


def _locate_unrecorded(clients: Clients, reference: str) -> _Unrecorded:
    name = clients.settings.endpoint
    try:
        target = describe_target(clients)
    except NotFoundError:
        target, missing = None, f"endpoint {name} does not exist (deleted since?)"
    except WasyncError as exc:  # not asynchronous, not serving, not allowed to look
        target, missing = None, exc.message.rstrip(".")
    if target is not None:
        failure = failure_beside(reference, target.output_path, target.failure_path)
        return _Unrecorded(target, None, failure)
    # No endpoint to ask: where wasync's deployments put an endpoint's outputs and failures
    paths = naming.result_paths(clients.bucket, clients.prefix, name)
    return _Unrecorded(None, missing, failure_beside(reference, *paths))


def endpoint_of_result(clients: Clients, uri: S3Uri) -> Clients:
    """Clients for the endpoint a result URI names, when --endpoint was not given: wasync's
    deployments write NAME's results under outputs/NAME/ (and failures/NAME/), so a URI from
    another endpoint was looked for under the default one's S3OutputPath, and not found."""
    if clients.settings.sources.get("endpoint") != "default" or uri.bucket != clients.bucket:
        return clients
    for folder in (naming.output_prefix, naming.failure_prefix):
        head = folder(clients.prefix, "")[:-1]  # PREFIX/outputs/
        name = uri.key.removeprefix(head).split("/", 1)[0] if uri.key.startswith(head) else ""
        if name and name != clients.settings.endpoint and ENDPOINT_NAME.fullmatch(name):
            return Clients(clients.settings.with_values(endpoint=name), clients.session)
    return clients


def _fetch_unrecorded(
    clients: Clients,
    fetcher: Fetcher,
    uri: S3Uri,
    fmt: str | None,
    output: Path | None,
    wait: bool,
    timeout: float,
    overwrite: bool,
) -> Fetched:
    """A result URI with no wasync record (a request sent by the AWS CLI or the SDK): its
    output, or its failure, found beside it under the endpoint's S3FailurePath; a failure URI
    itself is read as the failure it is."""
    reference = str(uri)
    if reference.endswith("-error.out"):  # a FailureLocation: why the request failed
        found = fetcher.read(uri)
        if found is None:
            raise NotFoundError(
                f"No failure at {reference}.",
                "check the URI; a request's failure appears only if it fails "
                "(fetch its OutputLocation to wait for its result)",
            )
        return Fetched(None, reference, "failed", fmt or "txt", error=failure_message(found[0]))
    clients = endpoint_of_result(clients, uri)
    where = _locate_unrecorded(clients, reference)
    name = id_from_location(uri) or reference
    expected = where.target is not None and is_under_output_path(
        reference, where.target.output_path
    )
    waits = wait and expected  # no endpoint, or not its output: nothing will come
    state, _ = fetcher.wait_for(name, name, reference, where.failure, timeout if waits else 0.0)
    if state is JobState.FAILED and where.failure:
        found = fetcher.read(S3Uri.parse(where.failure))
        message = failure_message(found[0]) if found else "failed"
        return Fetched(None, reference, "failed", fmt or "txt", error=message)
    if state is JobState.DONE and (found := fetcher.read(uri)) is not None:
        if is_binary(found[0]):  # `fetch s3://b/talk.wav`: the input, not its result
            raise UsageError(
                f"{reference} holds binary data (audio or video?), not a transcript.",
                "pass the job's id, or the OutputLocation (.out) that transcribe --json printed",
            )
        return _deliver(None, reference, found, fmt, output, overwrite=overwrite)
    endpoint = clients.settings.endpoint
    if where.target is None:
        raise NotFoundError(
            f"No result at {reference}, no wasync job record for it, and {where.missing}.",
            "a request's queue goes with its endpoint: send the audio again; "
            "pass --endpoint if it went to another endpoint",
        )
    if not expected:
        raise NotFoundError(
            f"No result at {reference}, and no wasync job record for it; it is not under "
            f"endpoint {endpoint}'s S3OutputPath ({where.target.output_path}), so that "
            "endpoint will not write it.",
            "check the URI, or pass --endpoint for the endpoint the request was sent to",
        )
    waited = f" after waiting {format_duration(timeout)} (--timeout)" if wait else ""
    beside = (
        "no failure beside it"
        if where.failure
        else f"{endpoint} has no S3FailurePath to look for its failure in"
    )
    raise StillPending(
        Fetched(None, reference, "pending", fmt or "txt"),
        f"No result at {reference} yet{waited}, and {beside}: the request is queued or "
        f"running on {endpoint} (or was never sent).",
        "the endpoint may be scaled to zero or busy; try again later"
        if wait
        else f"wait with `wasync fetch {reference} --wait`",
    )


def _deliver(
    job_id: str | None,
    source: str,
    found: tuple[bytes, str | None],
    fmt: str | None,
    output: Path | None,
    json_default: str = "txt",
    audio_sha256: str | None = None,
    overwrite: bool = False,
) -> Fetched:
    rendered = render(found[0], found[1], fmt, json_default, audio_sha256)
    if output is None:
        return Fetched(
            job_id, source, "done", rendered.format, text=rendered.text, note=rendered.note
        )
    try:
        write_atomically(output, rendered.text, replace=overwrite)
    except FileExistsError:  # made while the result was awaited
        raise UsageError(
            f"{output} appeared while the result was awaited; it is left as it is",
            "pass --overwrite to replace it; the result is kept in S3",
        ) from None
    except OSError as exc:  # a full disk, a folder gone since the check
        raise WasyncError(
            f"could not write {output}: {exc.strerror or exc}",
            "the result is kept in S3: fetch it again with -o in a folder you can write",
        ) from None
    notes = [rendered.note, formats.extension_note(str(output), rendered.format)]
    note = "; ".join(n for n in notes if n) or None
    return Fetched(job_id, source, "done", rendered.format, output=str(output), note=note)
