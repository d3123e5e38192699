"""Receive a request body into a file: bounded in size, and in time while it arrives."""

from __future__ import annotations

import errno
import hashlib
from pathlib import Path
from typing import Protocol

import anyio
from starlette.requests import Request

from ..digits import whole_number
from .errors import (
    BodyTimeoutError,
    BodyTooLargeError,
    ConflictingLengthsError,
    EmptyBodyError,
    NoSpaceError,
)
from .request_log import details_of


class BodyLimits(Protocol):
    @property
    def max_body_bytes(self) -> int: ...

    @property
    def body_idle_seconds(self) -> float: ...

    @property
    def body_timeout_seconds(self) -> float: ...


async def receive_to_file(request: Request, path: Path, limits: BodyLimits) -> int:
    """Stream the body to `path`; return its size. Refuses a body over `max_body_bytes` (by
    its declared length before reading, else as soon as it passes), one that pauses for
    `body_idle_seconds`, and one that takes longer than `body_timeout_seconds` in all."""
    limit = limits.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and "transfer-encoding" in request.headers:
        # h11 lets chunked win; a proxy in front may have read the other length
        raise ConflictingLengthsError(
            "the request has both Content-Length and Transfer-Encoding; send only one"
        )
    declared_bytes = whole_number(declared or "")
    if declared_bytes is not None and declared_bytes > limit:
        raise BodyTooLargeError(
            f"the body is {declared_bytes} bytes; the limit is {limit} (WASYNC_MAX_BODY_BYTES)"
        )
    size = 0
    # stated in the result: a client tells its own audio's result from one another request
    # wrote under its key (S3OutputPathExtension and Filename can name any job's)
    digest = hashlib.sha256()
    chunks = request.stream().__aiter__()
    try:
        with path.open("wb") as handle, anyio.move_on_after(limits.body_timeout_seconds) as whole:
            while True:
                with anyio.move_on_after(limits.body_idle_seconds) as idle:
                    try:
                        chunk = await chunks.__anext__()
                    except StopAsyncIteration:
                        details_of(request).body_complete = True
                        details_of(request).body_sha256 = digest.hexdigest()
                        break
                if idle.cancelled_caught:
                    raise BodyTimeoutError(
                        f"the body stopped arriving: {size} bytes came in, then nothing for "
                        f"{limits.body_idle_seconds:g} s (WASYNC_BODY_IDLE_SECONDS); send the "
                        "whole body without pauses"
                    )
                size += len(chunk)
                details_of(request).body_bytes = size
                if size > limit:
                    raise BodyTooLargeError(
                        f"the body exceeds the limit of {limit} bytes (WASYNC_MAX_BODY_BYTES)"
                    )
                handle.write(chunk)
                digest.update(chunk)
    except OSError as error:  # from a write, or from the last flush as the file closes
        if error.errno != errno.ENOSPC:
            raise
        raise NoSpaceError(
            f"no space left in the server's temporary folder after {size} bytes of the body; "
            "send it again later, or give the server more disk"
        ) from None
    if whole.cancelled_caught:
        raise BodyTimeoutError(
            f"the body took over {limits.body_timeout_seconds:g} s to arrive "
            f"(WASYNC_BODY_TIMEOUT_SECONDS); {size} bytes came in"
        )
    if size == 0:
        raise EmptyBodyError(
            "the request body is empty (0 bytes): send an audio file, as the body or as the"
            " object InputLocation names"
        )
    return size
