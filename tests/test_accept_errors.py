"""The server's loop exception handler (serving/protocol.py QuietAcceptErrors): out of file
descriptors, one line now and then instead of a traceback per waiting connection; and no
traceback when asyncio's retry of accepting finds the socket closed by shutdown."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterator

import pytest

from whisper_async.serving.protocol import ACCEPT_FAILED, QuietAcceptErrors


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    created = asyncio.new_event_loop()
    yield created
    created.close()


def resume_context(loop: asyncio.AbstractEventLoop, callback: object) -> dict[str, object]:
    """What asyncio hands the handler when a timer's callback raised, as its retry of
    accepting raises on a closed socket: "Invalid file descriptor: -1"."""
    closed = socket.socket()
    closed.close()
    handle = asyncio.TimerHandle(0.0, callback, (closed,), loop)  # type: ignore[arg-type]
    return {
        "message": f"Exception in callback {handle}",
        "exception": ValueError("Invalid file descriptor: -1"),
        "handle": handle,
    }


def test_the_retry_of_accepting_after_shutdown_logs_nothing(
    loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    handler = QuietAcceptErrors()
    handler(loop, resume_context(loop, loop._start_serving))  # type: ignore[attr-defined]
    assert caplog.records == []


def test_another_callbacks_error_still_reaches_the_default_handler(
    loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    def _accept_elsewhere(_: socket.socket) -> None:
        pass

    QuietAcceptErrors()(loop, resume_context(loop, _accept_elsewhere))
    assert [r.levelno for r in caplog.records] == [logging.ERROR]
    assert "Exception in callback" in caplog.records[0].getMessage()


def test_running_out_of_descriptors_logs_one_line_per_period(
    loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    now = [0.0]
    handler = QuietAcceptErrors(every=10.0, clock=lambda: now[0])
    context = {"message": ACCEPT_FAILED, "exception": OSError(24, "Too many open files")}
    for second in range(25):
        now[0] = float(second)
        handler(loop, context)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3 and all("cannot accept connections" in line for line in lines)
