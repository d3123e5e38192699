"""`transcribe` as one capability: check everything that can be checked before any upload,
connect a batch to the endpoint, run it."""

from __future__ import annotations

import datetime as dt
import functools
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from botocore.config import Config

from .. import formats, storage
from ..attributes import OptionError, encode_attributes
from ..aws import member_range
from ..clients import Clients
from ..durations import format_duration
from ..errors import UsageError, WasyncError
from ..files import check_writable
from ..inputs import Input, KeyLister
from ..resources import find_endpoint
from .batch import Batch, BatchEnv
from .lanes import default_workers
from .listing import ListingCompletions, s3_lister
from .notifications import QueueCompletions, check_queue
from .outcomes import BatchReport, JobOutcome
from .ownership import Heartbeats, IdleProbe
from .records import RecordStore
from .request import TranscribeRequest
from .submission import THROTTLE_CODES
from .target import EndpointTarget, check_model_serves, check_work_can_start, describe_target

# Threads a batch may run at once: 100,000 ran out of threads (`can't start new thread`).
MOST_WORKERS = 256


def _check_seconds(flag: str, member: str, value: float) -> None:
    low, high = member_range("sagemaker-runtime", "InvokeEndpointAsyncInput", member)
    if not low <= value <= high:
        raise UsageError(
            f"{flag} {format_duration(value)} is out of range: SageMaker accepts "
            f"{format_duration(low)} to {format_duration(high)}",
            f"e.g. {flag} {low if value < low else high}s",
        )


def check_output_dir(path: Path) -> None:
    """-o must be a folder we can write, created if missing; found out before any upload."""
    if path.exists() and not path.is_dir():
        raise UsageError(f"--output-dir {path} is a file, not a folder", "pass a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        check_writable(path)
    except OSError as exc:
        raise UsageError(
            f"cannot write to --output-dir {path}: {exc.strerror or exc}",
            "pass a folder you can write to",
        ) from None


def input_keys(clients: Clients) -> KeyLister:
    """Lists an S3 prefix given as an input; the client is made only when one is."""
    return lambda bucket, prefix: storage.list_keys(clients.client("s3"), bucket, prefix)


def check_request(request: TranscribeRequest) -> None:
    """Refuse bad options before anything touches AWS, let alone uploads (exit 2)."""
    formats.check_format(request.fmt)
    try:
        encode_attributes({**request.options, "format": "json"})
    except OptionError as exc:
        raise UsageError(str(exc), "see `wasync transcribe --help`") from None
    _check_seconds("--request-ttl", "RequestTTLSeconds", request.request_ttl)
    _check_seconds("--invocation-timeout", "InvocationTimeoutSeconds", request.invocation_timeout)
    if request.timeout < 0:
        raise UsageError("--timeout must not be negative")
    if request.output_dir is not None and not request.wait:
        # without --wait nothing is written: an -o would make an empty folder and a promise
        raise UsageError(
            f"--output-dir {request.output_dir} is written as the jobs finish, which needs --wait",
            "add --wait; or send now and collect later with the same command and --wait "
            "(nothing is sent twice), or `wasync fetch ID -o FILE`",
        )
    if request.output_dir is not None:
        check_output_dir(request.output_dir)


@dataclass(frozen=True)
class Connection:
    """A batch environment and what to close when the batch ends."""

    env: BatchEnv
    close: Callable[[], None]


def connect(
    clients: Clients,
    target: EndpointTarget,
    workers: int | None = None,
    notify_queue: str | None = None,
) -> Connection:
    """Clients made here, up front, on one thread: adaptive retries for the endpoint (a
    throttled client slows itself down) and a connection pool as large as the worker pool."""
    workers = workers or default_workers()
    pool = Config(max_pool_connections=workers + 4)
    s3 = clients.client("s3", pool)
    runtime = clients.client("sagemaker-runtime", pool)  # adaptive retries: clients.py
    cloudwatch = clients.client("cloudwatch")
    requests, throttled = RequestCounter(), RequestCounter()
    s3.meta.events.register("before-call.s3.*", requests.count)
    # Throttled answers botocore retried by itself, so the report shows every one.
    runtime.meta.events.register(
        "needs-retry.sagemaker-runtime.InvokeEndpointAsync", throttled.count_throttling
    )
    bucket, prefix = clients.bucket, clients.prefix
    listing = ListingCompletions(s3_lister(s3))
    source: Any = listing
    close: Callable[[], None] = nothing
    if notify_queue:
        source = QueueCompletions(clients.client("sqs"), notify_queue, listing)
        close = source.stop
    env = BatchEnv(
        s3=s3,
        runtime=runtime,
        bucket=bucket,
        prefix=prefix,
        target=target,
        records=RecordStore(s3, bucket, prefix),
        heartbeats=Heartbeats(s3, bucket, prefix),
        idle=IdleProbe(cloudwatch, target.name),
        source=source,
        count_s3=lambda: requests.total,
        count_throttled=lambda: throttled.total,
        workers=workers,
        endpoint_gone=functools.partial(endpoint_gone, clients, target),
    )
    return Connection(env, close)


def endpoint_gone(clients: Clients, target: EndpointTarget) -> str | None:
    """Why the batch's endpoint no longer holds its queue: deleted, or deleted and made again
    since the batch looked (a later CreationTime); None while it stands, or when not allowed
    to look."""
    try:
        described = find_endpoint(clients, target.name)
    except WasyncError:
        return None
    if described is None:
        return f"endpoint {target.name} was deleted"
    created = described.get("CreationTime")
    if target.created is not None and isinstance(created, dt.datetime) and created > target.created:
        return f"endpoint {target.name} was deleted and made again"
    return None


def nothing() -> None:
    return None


class RequestCounter:
    """Counts a batch's requests (from botocore event hooks), for its report."""

    def __init__(self) -> None:
        self.total = 0
        self._lock = threading.Lock()

    def count(self, **_: Any) -> None:
        with self._lock:
            self.total += 1

    def count_throttling(self, response: Any = None, **_: Any) -> None:
        """needs-retry: count the attempts that were throttled; decide nothing (None)."""
        parsed = response[1] if isinstance(response, tuple) and len(response) > 1 else {}
        if parsed.get("Error", {}).get("Code") in THROTTLE_CODES:
            self.count()


def transcribe(
    clients: Clients,
    inputs: Iterable[Input],
    request: TranscribeRequest,
    on_outcome: Callable[[JobOutcome], None] = lambda outcome: None,
    on_start: Callable[[Batch, EndpointTarget], None] = lambda batch, target: None,
    workers: int | None = None,
    notify_queue: str | None = None,
    on_first_send: Callable[[EndpointTarget], None] = lambda target: None,
) -> BatchReport:
    """Check, connect, run. `on_start` sees the batch before it runs (the live view reads
    its progress). Returns the batch and its report; Ctrl-C ends it with the report marked
    interrupted."""
    check_request(request)
    if workers is not None and not 1 <= workers <= MOST_WORKERS:
        raise UsageError(
            f"--concurrency {workers} is out of range; allowed 1 to {MOST_WORKERS}",
            "each is a thread with its own connections; the default (4 per core, 8-32) suits most",
        )
    if notify_queue:
        check_queue(clients.client("sqs"), notify_queue)
    target = describe_target(clients)
    check_model_serves(target, request.options)
    check_work_can_start(clients, target)
    if notify_queue and not target.notifies:
        late = (
            f"{target.name} was deployed without --notify, so nothing reaches {notify_queue}: "
            "each result is found by the fallback listing, up to 30 s late "
            "(`wasync deploy --notify` adds the topics)"
        )
        target = replace(target, notes=(*target.notes, late))
    connection = connect(clients, target, workers, notify_queue)
    batch = Batch(connection.env, request, on_outcome, on_first_send=lambda: on_first_send(target))
    on_start(batch, target)
    try:
        return batch.run(inputs)
    finally:
        connection.close()
