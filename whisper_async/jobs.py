"""transcribe, fetch and jobs: submit audio to the async endpoint and collect the results.

Every job leaves a record at s3://{bucket}/{prefix}jobs/{inference_id}.json holding where its
result and failure will land, so `fetch ID` works from any machine.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from . import formats, storage
from .attributes import OptionError, encode_attributes
from .clients import Clients
from .errors import NotFoundError, UsageError, WaitTimeoutError, WasyncError
from .files import write_atomically
from .inputs import Input, content_type
from .notifications import NotificationWatcher
from .polling import RESULT_BACKOFF, Backoff
from .progress import ProgressFactory, no_progress
from .resources import find_endpoint

INLINE_LIMIT = 128_000  # InvokeEndpointAsync accepts a Body of at most this many bytes
DEFAULT_TTL = 6 * 3600


class Interrupted(Exception):
    """The user stopped waiting; the jobs go on."""


@dataclass(frozen=True)
class JobRecord:
    inference_id: str
    endpoint: str
    source: str
    input_location: str | None
    output_location: str
    failure_location: str
    options: dict[str, Any]
    format: str
    submitted_at: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> JobRecord:
        data = json.loads(text)
        return cls(**{k: data.get(k) for k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Outcome:
    """One job's state, as the live table and `--json` lines show it."""

    id: str | None
    input: str
    state: str  # uploading, queued, done, failed, pending
    output: str | None = None
    error: str | None = None
    text: str | None = None


@dataclass(frozen=True)
class Destination:
    """Where a finished job's transcript goes: a file, or stdout when path is None."""

    path: Path | None
    format: str
    overwrite: bool = False


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)
    s3_requests: int = 0
    interrupted: bool = False

    @property
    def exit_code(self) -> int:
        if any(o.state == "failed" for o in self.outcomes):
            return 1
        if any(o.state == "pending" for o in self.outcomes):
            return 3
        return 0


def failure_message(body: bytes) -> str:
    """One line from a failure object: the server's JSON message, else the text itself."""
    text = body.decode("utf-8", "replace").strip()
    start, end = text.find("{"), text.rfind("}") + 1
    # SageMaker wraps the container's body: 'Received client error (415) from primary with
    # message "{...}"', sometimes with the quotes escaped.
    for candidate in (text[start:end], text[start:end].replace('\\"', '"')) if start >= 0 else ():
        try:
            data = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(data, dict) and data.get("message"):
            return str(data["message"])
    return " ".join(text.split()) or "the job failed without a message"


def destinations(
    inputs: Sequence[Input], fmt: str, output_dir: Path | None, overwrite: bool
) -> list[Destination]:
    """Decide every output path before any upload, so conflicts fail fast and cost nothing."""
    if fmt not in formats.FORMATS:
        raise UsageError(f"unknown format {fmt!r}", f"choose one of {', '.join(formats.FORMATS)}")
    if len(inputs) == 1 and output_dir is None:
        return [Destination(None, fmt)]
    chosen: list[Destination] = []
    used: dict[Path, str] = {}
    for item in inputs:
        if output_dir is not None:
            path = output_dir / f"{item.stem}.{fmt}"
        elif item.path is not None:
            path = item.path.with_name(f"{item.stem}.{fmt}")
        else:
            path = Path.cwd() / f"{item.stem}.{fmt}"
        if path in used:
            raise UsageError(
                f"{item.display} and {used[path]} would both write {path}",
                "use --output-dir per batch, or rename",
            )
        if path.exists() and not overwrite:
            raise UsageError(
                f"{path} already exists", "pass --overwrite to replace it, or --output-dir"
            )
        used[path] = item.display
        chosen.append(Destination(path, fmt, overwrite))
    return chosen


def write_result(result_body: bytes, destination: Destination) -> tuple[str | None, str]:
    """Convert the server's JSON result; write it atomically unless it is meant for stdout.
    Returns (path written or None, text)."""
    text = formats.render(json.loads(result_body), destination.format)
    if destination.path is None:
        return None, text
    destination.path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(destination.path, text)
    return str(destination.path), text


class JobRunner:
    """Submits jobs and waits for them. Counts every S3 request it makes."""

    def __init__(
        self,
        clients: Clients,
        backoff: Backoff = RESULT_BACKOFF,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clients = clients
        self.backoff = backoff
        self.clock = clock
        self._sleep = sleep
        self._interrupted = False
        self._completions = 0
        self._progress = threading.Condition()
        self._waiting: list[str] = []  # inference ids in submission order, still pending
        self.parallelism = 1  # jobs the endpoint runs at once; set by precheck()
        self.notifications: NotificationWatcher | None = None
        self._lock = threading.Lock()
        self.s3_requests = 0
        clients.client("s3").meta.events.register("before-call.s3.*", self._count)

    def _count(self, **_: Any) -> None:
        with self._lock:
            self.s3_requests += 1

    def interrupt(self) -> None:
        """Stop every wait now (Ctrl-C); the jobs themselves go on."""
        with self._progress:
            self._interrupted = True
            self._progress.notify_all()

    def _pause(self, seconds: float) -> bool:
        """Sleep; wake early when another job finishes (the queue moved, so ours may be next).
        True when woken that way. Raises Interrupted after interrupt()."""
        if self._sleep is not None:
            self._sleep(seconds)
            woken = False
        else:
            with self._progress:
                seen = self._completions
                if not self._interrupted:
                    self._progress.wait(seconds)
                woken = self._completions != seen
        if self._interrupted:
            raise Interrupted()
        return woken

    def _completed(self) -> None:
        with self._progress:
            self._completions += 1
            self._progress.notify_all()

    def _is_next(self, inference_id: str) -> bool:
        """Is this job among those the endpoint should be running now (queues are FIFO)?"""
        with self._progress:
            return inference_id in self._waiting[: self.parallelism]

    @property
    def bucket(self) -> str:
        return self.clients.bucket

    def record_uri(self, inference_id: str) -> storage.S3Uri:
        return storage.S3Uri(self.bucket, f"{self.clients.prefix}jobs/{inference_id}.json")

    def precheck(self) -> str | None:
        """The endpoint must exist and be async. Returns a note when it has no instances."""
        endpoint = self.clients.settings.endpoint
        described = find_endpoint(self.clients, endpoint)
        if described is None:
            raise NotFoundError(
                f"Endpoint {endpoint} does not exist.",
                "deploy it with `wasync deploy`, or pass --endpoint",
            )
        config = self.clients.client("sagemaker").describe_endpoint_config(
            EndpointConfigName=described["EndpointConfigName"]
        )
        if not config.get("AsyncInferenceConfig"):
            raise UsageError(
                f"Endpoint {endpoint} is not an asynchronous endpoint.",
                "deploy it with `wasync deploy`",
            )
        if described["EndpointStatus"] not in {"InService", "Updating", "SystemUpdating"}:
            raise UsageError(
                f"Endpoint {endpoint} is {described['EndpointStatus']}.", "see `wasync status`"
            )
        variants = described.get("ProductionVariants") or [{}]
        per_instance = (
            config["AsyncInferenceConfig"]
            .get("ClientConfig", {})
            .get("MaxConcurrentInvocationsPerInstance", 1)
        )
        self.parallelism = int(per_instance) * max(
            1, int(variants[0].get("CurrentInstanceCount") or 1)
        )
        if variants[0].get("CurrentInstanceCount") == 0:
            return f"{endpoint} is scaled to zero: the first result will take several minutes while an instance starts"
        return None

    def stage_input(
        self, item: Input, inline: bool, progress: ProgressFactory
    ) -> tuple[str | None, bytes | None]:
        """Inline small files; upload others to a content-addressed key, once."""
        if item.s3_uri:
            storage.S3Uri.parse(item.s3_uri)
            return item.s3_uri, None
        assert item.path is not None
        size = item.path.stat().st_size
        if size == 0:
            raise UsageError(f"{item.display} is empty")
        if inline and size <= INLINE_LIMIT:
            return None, item.path.read_bytes()
        digest = storage.sha256_file(item.path)
        uri = storage.S3Uri(self.bucket, f"{self.clients.prefix}inputs/{digest}{item.suffix}")
        if storage.head(self.clients, uri) is None:
            storage.upload(
                self.clients,
                item.path,
                uri,
                content_type(item.suffix),
                {"sha256": digest},
                progress,
            )
        return str(uri), None

    def submit(
        self,
        item: Input,
        options: Mapping[str, Any],
        fmt: str,
        inline: bool = True,
        request_ttl: int = DEFAULT_TTL,
        invocation_timeout: int = 3600,
        progress: ProgressFactory = no_progress,
    ) -> JobRecord:
        input_location, body = self.stage_input(item, inline, progress)
        inference_id = uuid.uuid4().hex
        now = dt.datetime.now(dt.timezone.utc)
        # The server always returns JSON; the CLI converts, so `fetch` can pick any format later.
        attributes = encode_attributes({**options, "format": "json"})
        params: dict[str, Any] = {
            "EndpointName": self.clients.settings.endpoint,
            "ContentType": content_type(item.suffix),
            "Accept": "application/json",
            "CustomAttributes": attributes,
            "InferenceId": inference_id,
            "RequestTTLSeconds": request_ttl,
            "InvocationTimeoutSeconds": invocation_timeout,
            "S3OutputPathExtension": f"{now:%Y/%m/%d}",
            "Filename": inference_id,
        }
        if body is not None:
            params["Body"] = body
        else:
            params["InputLocation"] = input_location
        if self.notifications is not None:
            self.notifications.expect(inference_id)
        response = self.clients.client("sagemaker-runtime").invoke_endpoint_async(**params)
        record = JobRecord(
            inference_id=response.get("InferenceId", inference_id),
            endpoint=self.clients.settings.endpoint,
            source=item.display,
            input_location=input_location,
            output_location=response["OutputLocation"],
            failure_location=response.get("FailureLocation") or "",
            options=dict(options),
            format=fmt,
            submitted_at=now.isoformat(),
        )
        uri = self.record_uri(record.inference_id)
        self.clients.client("s3").put_object(
            Bucket=uri.bucket,
            Key=uri.key,
            Body=record.to_json().encode(),
            ContentType="application/json",
        )
        return record

    def locate(self, record: JobRecord) -> tuple[str, storage.S3Uri] | None:
        """('done' or 'failed', where), or None while pending: one or two HEADs per call."""
        for state, location in (
            ("done", record.output_location),
            ("failed", record.failure_location),
        ):
            if location:
                uri = storage.S3Uri.parse(location)
                if storage.head(self.clients, uri) is not None:
                    return state, uri
        return None

    def check(self, record: JobRecord) -> tuple[str, bytes] | None:
        """('done', result) or ('failed', failure body), or None while pending."""
        found = self.locate(record)
        return None if found is None else (found[0], storage.read_bytes(self.clients, found[1]))

    def wait(self, record: JobRecord, timeout: float) -> tuple[str, bytes] | None:
        """Poll with backoff until the result or failure appears; None on timeout. Another
        job finishing restarts the backoff from its first, short delay. With notifications,
        wait for the job's SNS message instead and read the result once."""
        if self.notifications is not None:
            note = self.notifications.wait_for(record.inference_id, timeout)
            return None if note is None else self.check(record)
        deadline = self.clock() + timeout
        delays = self.backoff.delays()
        with self._progress:
            self._waiting.append(record.inference_id)
        try:
            while True:
                result = self.check(record)
                if result is not None:
                    self._completed()
                    return result
                # Jobs queued behind others mostly sleep until a job finishes; the ones the
                # endpoint should be running poll with backoff, from a short delay again
                # each time the queue moves.
                while True:
                    remaining = deadline - self.clock()
                    if remaining <= 0:
                        return None
                    delay = next(delays) if self._is_next(record.inference_id) else self.backoff.cap
                    if not self._pause(min(delay, remaining)):
                        break
                    if self._is_next(record.inference_id):
                        delays = self.backoff.delays()
        finally:
            with self._progress:
                self._waiting.remove(record.inference_id)

    def read_record(self, inference_id: str) -> JobRecord:
        uri = self.record_uri(inference_id)
        try:
            return JobRecord.from_json(storage.read_bytes(self.clients, uri))
        except NotFoundError as exc:
            raise NotFoundError(
                f"No job {inference_id} under {uri}.", "check the ID, --bucket and --prefix"
            ) from exc


Emit = Callable[[str], None] | None  # where stdout transcripts go; None keeps them in Outcome.text


def finish(
    record: JobRecord, result: tuple[str, bytes] | None, destination: Destination, emit: Emit
) -> Outcome:
    if result is None:
        return Outcome(record.inference_id, record.source, "pending")
    state, body = result
    if state == "failed":
        return Outcome(record.inference_id, record.source, "failed", error=failure_message(body))
    try:
        written, text = write_result(body, destination)
    except (ValueError, KeyError) as exc:
        return Outcome(
            record.inference_id, record.source, "failed", error=f"unreadable result: {exc}"
        )
    if written is None and emit is not None:
        emit(text)
    keep = text if written is None and emit is None else None
    return Outcome(record.inference_id, record.source, "done", output=written or "-", text=keep)


@dataclass(frozen=True)
class TranscribeRequest:
    inputs: Sequence[Input]
    options: Mapping[str, Any]
    fmt: str = "txt"
    output_dir: Path | None = None
    overwrite: bool = False
    wait: bool = True
    timeout: float = 3600
    concurrency: int = 8
    inline: bool = True
    request_ttl: int = DEFAULT_TTL
    invocation_timeout: int = 3600

    def __post_init__(self) -> None:
        # Refuse bad options before anything touches AWS, let alone uploads.
        if self.concurrency < 1:
            raise UsageError("--concurrency must be at least 1")
        try:
            encode_attributes({**self.options, "format": "json"})
        except OptionError as exc:
            raise UsageError(str(exc), "see `wasync transcribe --help`") from None


def transcribe(
    runner: JobRunner,
    request: TranscribeRequest,
    on_update: Callable[[int, Outcome], None] = lambda index, outcome: None,
    emit: Emit = print,
    progress: ProgressFactory = no_progress,
) -> Report:
    """Submit every input (and wait, if asked), `concurrency` at a time."""
    targets = destinations(request.inputs, request.fmt, request.output_dir, request.overwrite)
    outcomes: list[Outcome | None] = [None] * len(request.inputs)
    deadline = runner.clock() + request.timeout

    def run(index: int) -> Outcome:
        item = request.inputs[index]

        def update(outcome: Outcome) -> Outcome:
            outcomes[index] = outcome
            on_update(index, outcome)
            return outcome

        update(Outcome(None, item.display, "uploading"))
        try:
            record = runner.submit(
                item,
                request.options,
                request.fmt,
                request.inline,
                request.request_ttl,
                request.invocation_timeout,
                progress,
            )
        except Interrupted:
            return update(
                Outcome(None, item.display, "failed", error="interrupted before submission")
            )
        except WasyncError as exc:
            return update(Outcome(None, item.display, "failed", error=str(exc)))
        queued = update(Outcome(record.inference_id, item.display, "queued"))
        if not request.wait:
            return update(replace(queued, state="pending"))
        try:
            result = runner.wait(record, max(0.0, deadline - runner.clock()))
        except Interrupted:
            result = None
        return update(finish(record, result, targets[index], emit))

    report = Report()
    with ThreadPoolExecutor(max_workers=request.concurrency, thread_name_prefix="job") as pool:
        futures = [pool.submit(run, index) for index in range(len(request.inputs))]
        try:
            for future in futures:
                future.result()
        except KeyboardInterrupt:
            runner.interrupt()
            report.interrupted = True
            for future in futures:
                future.result()
    report.outcomes = [o for o in outcomes if o is not None]
    report.s3_requests = runner.s3_requests
    return report


def fetch(
    runner: JobRunner,
    reference: str,
    fmt: str | None = None,
    output: Path | None = None,
    wait: bool = False,
    timeout: float = 3600,
    overwrite: bool = True,
    emit: Emit = print,
) -> Outcome:
    """Get a job's result by inference ID (via its record) or by its output S3 URI."""
    if reference.startswith("s3://"):
        storage.S3Uri.parse(reference)
        record = JobRecord(
            reference.rsplit("/", 1)[-1].removesuffix(".out"),
            "",
            reference,
            None,
            reference,
            "",
            {},
            fmt or "txt",
            "",
        )
    else:
        record = runner.read_record(reference)
    destination = Destination(output, fmt or record.format or "txt", overwrite)
    if output is not None and output.exists() and not overwrite:
        raise UsageError(f"{output} already exists", "pass --overwrite")
    result = runner.wait(record, timeout) if wait else runner.check(record)
    outcome = finish(record, result, destination, emit)
    if outcome.state == "pending":
        raise WaitTimeoutError(
            f"Job {record.inference_id} is still pending.",
            f"wait with `wasync fetch {reference} --wait`"
            if not wait
            else "the endpoint may be scaled to zero or busy; try again later",
        )
    return outcome


def list_jobs(
    runner: JobRunner, since_seconds: int, state: str | None = None, limit: int = 1000
) -> list[Outcome]:
    """Recent jobs from their records, newest first, with their current state."""
    if state not in {None, "pending", "done", "failed"}:
        raise UsageError(f"unknown state {state!r}", "use pending, done or failed")
    s3 = runner.clients.client("s3")
    cutoff = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=since_seconds)
    entries = []
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=runner.bucket, Prefix=f"{runner.clients.prefix}jobs/"
        ):
            entries += [o for o in page.get("Contents", []) if o["LastModified"] >= cutoff]
    except NotFoundError:  # no bucket yet: no jobs
        return []
    entries.sort(key=lambda o: o["LastModified"], reverse=True)
    found = []
    for entry in entries[:limit]:
        record = JobRecord.from_json(
            s3.get_object(Bucket=runner.bucket, Key=entry["Key"])["Body"].read()
        )
        located = runner.locate(record)
        if located is None:
            outcome = Outcome(record.inference_id, record.source, "pending")
        elif located[0] == "failed":
            body = storage.read_bytes(runner.clients, located[1])
            outcome = Outcome(
                record.inference_id, record.source, "failed", error=failure_message(body)
            )
        else:
            outcome = Outcome(record.inference_id, record.source, "done", output=str(located[1]))
        if state is None or outcome.state == state:
            found.append(outcome)
    return found
