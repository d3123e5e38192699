"""Getting one input to the endpoint: read and hash it, upload it if it is too big to send
inline, and invoke, retrying throttling for as long as it takes (a throttled request slows the
client down; it never fails a job). Everything here stops at the batch's cancel event."""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from boto3.s3.transfer import TransferConfig

from .. import aws
from ..inputs import Input, content_type
from ..polling import Backoff
from ..storage import S3Uri
from .codes import MISSING, aws_code

INLINE_LIMIT = 128_000  # InvokeEndpointAsync takes a Body of at most this many bytes
# Throttling refuses a request outright, so retrying it cannot queue a job twice: retried until
# it passes (after botocore's adaptive retries, which already slow the request rate).
THROTTLE_CODES = {
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "SlowDown",
}
# Uploads run on the worker's own thread, so Ctrl-C never waits for transfer threads.
UPLOAD_CONFIG = TransferConfig(
    multipart_threshold=16 * 1024 * 1024, multipart_chunksize=16 * 1024 * 1024, use_threads=False
)
THROTTLE_BACKOFF = Backoff(first=0.5, factor=1.6, cap=20.0)


class Cancelled(Exception):
    """The batch was cancelled before this step reached AWS."""


class Refused(Exception):
    """The endpoint did not queue the job (a 4xx answer, or no connection at all)."""


class Unanswered(Exception):
    """The request may or may not have been queued (a timeout or a 5xx after retries)."""


@dataclass(frozen=True)
class Prepared:
    """An input read and identified: its content id, and its bytes when small enough to go
    inline (so small files are read once)."""

    item: Input
    content_id: str
    size: int
    body: bytes | None = None
    location: str | None = None  # already in S3 (an s3:// input)


def prepare(item: Input, inline: bool, s3: Any, cancel: threading.Event) -> Prepared:
    """Read and hash a local file (OSError when it cannot be read), or identify an S3 object
    by its ETag."""
    if item.s3_uri:
        uri = S3Uri.parse(item.s3_uri)
        found = head_object(s3, uri)
        if found is None:
            raise FileNotFoundError(_why_missing(s3, uri))
        return Prepared(
            item,
            f"{item.s3_uri}#{found.get('ETag', '')}",
            int(found.get("ContentLength", 0)),
            location=item.s3_uri,
        )
    assert item.path is not None
    digest = hashlib.sha256()
    size = 0
    chunks: list[bytes] = []
    with item.path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            if cancel.is_set():
                raise Cancelled()
            digest.update(chunk)
            size += len(chunk)
            if size <= INLINE_LIMIT:
                chunks.append(chunk)
    if size == 0:
        raise ValueError("the file is empty")
    body = b"".join(chunks) if inline and size <= INLINE_LIMIT else None
    return Prepared(item, digest.hexdigest(), size, body)


def _why_missing(s3: Any, uri: S3Uri) -> str:
    """HeadObject answers the same bare 404 for a missing object and a missing bucket; the
    bucket's own HEAD tells them apart (a typo in the bucket is the likelier mistake). A key
    with objects under `key/` is a folder named without its slash."""
    try:
        s3.head_bucket(Bucket=uri.bucket)
    except Exception as exc:
        if aws_code(exc) in MISSING:
            return f"the bucket {uri.bucket} does not exist (check its name and the region)"
    folder = uri.key.rstrip("/") + "/"
    with contextlib.suppress(Exception):  # not allowed to list: the plain answer
        if s3.list_objects_v2(Bucket=uri.bucket, Prefix=folder, MaxKeys=1).get("KeyCount"):
            return (
                f"no such object in S3, but s3://{uri.bucket}/{folder} holds objects: an S3 "
                "prefix; name it with its slash to send every audio object under it"
            )
    return "no such object in S3"


def head_object(s3: Any, uri: S3Uri) -> dict[str, Any] | None:
    try:
        return dict(s3.head_object(Bucket=uri.bucket, Key=uri.key))
    except Exception as exc:
        if aws_code(exc) in MISSING:
            return None
        raise


_CREATED = "after-call.s3.CreateMultipartUpload"


class Uploads:
    """The uploads under way, so that Ctrl-C can abort their multipart uploads. s3transfer
    aborts its own only once the part in flight is answered, which on a slow link (or a busy
    local stack) outlasts the second an interrupt has: the parts would stay in the bucket,
    billed, where no lifecycle rule removes them. The upload ids are read from the
    CreateMultipartUpload answers (`watch`), so the abort names exactly ours."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids: dict[tuple[str, str], str | None] = {}  # (bucket, key) -> its upload id

    def watch(self, s3: Any) -> None:
        s3.meta.events.register(_CREATED, self._created, unique_id=self._handler_id)

    def unwatch(self, s3: Any) -> None:
        s3.meta.events.unregister(_CREATED, unique_id=self._handler_id)

    @property
    def _handler_id(self) -> str:
        return f"wasync-uploads-{id(self)}"

    def _created(self, parsed: Mapping[str, Any], **_: Any) -> None:
        where = (str(parsed.get("Bucket")), str(parsed.get("Key")))
        with self._lock:
            if where in self._ids:
                self._ids[where] = parsed.get("UploadId")

    @contextlib.contextmanager
    def tracked(self, uri: S3Uri) -> Iterator[None]:
        where = (uri.bucket, uri.key)
        with self._lock:
            self._ids[where] = None
        try:
            yield
        finally:
            with self._lock:
                self._ids.pop(where, None)

    def abort_all(self, s3: Any) -> list[threading.Thread]:
        """Abort the multipart uploads under way, each in a thread of its own (started, and
        returned to be joined)."""
        with self._lock:
            under_way = [(where, upload) for where, upload in self._ids.items() if upload]
        aborters = [
            threading.Thread(target=_abort, args=(s3, bucket, key, upload), daemon=True)
            for (bucket, key), upload in under_way
        ]
        for aborter in aborters:
            aborter.start()
        return aborters


def _abort(s3: Any, bucket: str, key: str, upload_id: str) -> None:
    with contextlib.suppress(Exception):  # gone already, or not allowed: nothing more at exit
        s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)


def stage(
    prepared: Prepared,
    s3: Any,
    bucket: str,
    prefix: str,
    cancel: threading.Event,
    uploads: Uploads,
    on_bytes: Callable[[int], None] = lambda n: None,
) -> str | None:
    """The InputLocation for a job: None for an inline body; an S3 input as it is; else the
    content-addressed `inputs/{sha256}{ext}`, uploaded unless it is there already."""
    if prepared.body is not None:
        return None
    if prepared.location is not None:
        return prepared.location
    item = prepared.item
    assert item.path is not None
    uri = S3Uri(bucket, f"{prefix}inputs/{prepared.content_id}{item.suffix}")
    if head_object(s3, uri) is not None:
        return str(uri)

    def progress(amount: int) -> None:
        if cancel.is_set():
            raise Cancelled()  # s3transfer aborts the multipart upload
        on_bytes(amount)

    with item.path.open("rb") as handle, uploads.tracked(uri):
        s3.upload_fileobj(
            handle,
            uri.bucket,
            uri.key,
            ExtraArgs={
                "ContentType": content_type(item.suffix),
                "Metadata": {"sha256": prepared.content_id},
            },
            Callback=progress,
            Config=UPLOAD_CONFIG,
        )
    return str(uri)


def invoke(
    runtime: Any,
    params: Mapping[str, Any],
    cancel: threading.Event,
    begin: Callable[[], None],
    on_throttled: Callable[[], None] = lambda: None,
    backoff: Backoff = THROTTLE_BACKOFF,
) -> dict[str, Any]:
    """InvokeEndpointAsync, retried on throttling until accepted or the batch is cancelled.
    Cancelled and Refused mean the job was certainly not queued; Unanswered that it may be.
    `begin` runs before each attempt and raises Cancelled once the batch is cancelled; from
    it until the call answers the job may be queued, and nothing here checks `cancel` in
    between: a Ctrl-C in that gap must find the request sent, not dropped."""
    delays = backoff.delays()
    while True:
        begin()
        try:
            return dict(runtime.invoke_endpoint_async(**params))
        except Exception as exc:
            if aws_code(exc) not in THROTTLE_CODES:
                raise (Refused if aws.never_sent(exc) else Unanswered)(exc) from exc
            on_throttled()
        if cancel.wait(next(delays)):
            raise Cancelled()
