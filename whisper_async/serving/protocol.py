"""uvicorn's HTTP/1.1 protocol, with its one plain-text answer made JSON like every other, and
a limit on the time a request's head may take.

uvicorn answers a request it cannot parse (a malformed request line, bad headers, a header
block that grows past 16 KiB before it ends) with a plain-text 400 before any application code
runs. This subclass sends the same 400 with the server's JSON error body instead.

uvicorn also waits for a request's head for ever: a connection that sends nothing, or half its
headers, holds a socket until the client goes (the body has its own limits, in body.py). Here
the head must be whole within `head_timeout_seconds` of the connection's opening, or of its
first byte on a kept-alive connection: else a 408 (or, if nothing came, a plain close).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("wasync.serve")
ACCEPT_FAILED = "socket.accept() out of system resource"

HEAD_TIMEOUT_MESSAGE = (
    "the request's headers did not arrive within {seconds:g} s "
    "(WASYNC_HEAD_TIMEOUT_SECONDS); send the whole request head at once"
)

MALFORMED_MESSAGE = (
    "the request is not valid HTTP/1.1 (a malformed request line or header); send "
    "POST /invocations with the audio as the body"
)


def json_error_body(code: str, message: str) -> bytes:
    return json.dumps({"error": code, "message": message}).encode("utf-8")


def _json_headers(body: bytes) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode("ascii")),
        (b"connection", b"close"),
    ]


class JsonErrorH11Protocol(H11Protocol):
    head_timeout_seconds = 60.0
    _head_timer: asyncio.TimerHandle | None = None

    def send_400_response(self, msg: str) -> None:
        body = json_error_body("bad_request", MALFORMED_MESSAGE)
        for event in (
            h11.Response(status_code=400, headers=_json_headers(body), reason=b"Bad Request"),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event))
        self.transport.close()

    def _unsupported_upgrade_warning(self) -> None:
        # uvicorn warns twice per request, once to `pip install 'uvicorn[standard]'`: wrong here,
        # where ws="none" is chosen, and any client could fill the log with it.
        self.logger.debug("an Upgrade request, served as a plain request (no WebSockets here)")

    # ---- the head's time limit ----------------------------------------------------------------
    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._watch_head()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def _watch_head(self) -> None:
        """Time a head that has not arrived whole; stop once it has (the body is the app's)."""
        waiting = self.conn.their_state is h11.IDLE and not self.transport.is_closing()
        if not waiting:
            self._stop_head_timer()
        elif self._head_timer is None:
            self._head_timer = self.loop.call_later(self.head_timeout_seconds, self._head_late)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_late(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        started = bool(self.conn.trailing_data[0])
        if started:  # h11 cannot answer a request it has not parsed: the bytes are ours
            message = HEAD_TIMEOUT_MESSAGE.format(seconds=self.head_timeout_seconds)
            body = json_error_body("head_timeout", message)
            head = b"HTTP/1.1 408 Request Timeout\r\n" + b"".join(
                name + b": " + value + b"\r\n" for name, value in _json_headers(body)
            )
            self.transport.write(head + b"\r\n" + body)
        self.transport.close()


def with_head_timeout(seconds: float) -> type[JsonErrorH11Protocol]:
    """The protocol class with this limit on a request head's time (uvicorn takes a class)."""
    return type("JsonErrorH11Protocol", (JsonErrorH11Protocol,), {"head_timeout_seconds": seconds})


class QuietAcceptErrors:
    """An event loop exception handler. Out of file descriptors, asyncio logs a traceback for
    each connection waiting in the listen backlog, up to 2048 a second: a trial's flood of
    idle connections wrote 79 MB of log in 25 s. Here: one line every `every` seconds, with
    the count; everything else goes to the loop's default handler."""

    def __init__(self, every: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.every = every
        self.clock = clock
        self.last: float | None = None
        self.count = 0

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if _resumed_after_close(context):
            return  # the pause after running out ended after shutdown closed the socket
        if context.get("message") != ACCEPT_FAILED:
            loop.default_exception_handler(context)
            return
        self.count += 1
        now = self.clock()
        if self.last is not None and now - self.last < self.every:
            return
        log.warning(
            "cannot accept connections (%s; %d time(s) since the last such line): new ones "
            "wait until open ones close",
            context.get("exception"),
            self.count,
        )
        self.last, self.count = now, 0


def _resumed_after_close(context: dict[str, Any]) -> bool:
    """asyncio's retry of accepting, a second after it ran out of descriptors, finds the
    listening socket closed when the server stopped meanwhile: a ValueError with a traceback
    in the log, and nothing wrong."""
    handle = context.get("handle")
    callback = getattr(getattr(handle, "_callback", None), "__name__", "")
    return callback == "_start_serving" and isinstance(context.get("exception"), ValueError)
