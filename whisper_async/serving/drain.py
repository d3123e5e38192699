"""SIGTERM's drain period: requests in flight may finish within it, then fail with a reason.

SageMaker stops an instance (scale-in, endpoint update) with SIGTERM and kills it with SIGKILL
30 s later. A job that cannot finish in that time is lost either way; what matters is that it
fails with a message saying why, rather than with a bare 500 or a dropped connection. So each
request runs inside a cancel scope whose deadline is set when SIGTERM arrives; at the deadline
the request stops waiting for its transcription and answers 503 `shutting_down`.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Iterator

import anyio


class Drain:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadline: float | None = None  # on the event loop's clock, once started
        self._loop: asyncio.AbstractEventLoop | None = None
        self._scopes: set[anyio.CancelScope] = set()

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """The loop the requests run on (called from the app's lifespan)."""
        self._loop = loop

    @property
    def started(self) -> bool:
        return self.deadline is not None

    def start(self) -> None:
        """Begin the drain period. Safe from a signal handler or any thread."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._start_on_loop)

    def _start_on_loop(self) -> None:
        if self.deadline is not None or self._loop is None:
            return
        self.deadline = self._loop.time() + self.seconds
        for scope in self._scopes:
            scope.deadline = min(scope.deadline, self.deadline)

    @contextlib.contextmanager
    def bounded(self) -> Iterator[anyio.CancelScope]:
        """A cancel scope that ends at the drain deadline (no deadline until SIGTERM)."""
        scope = anyio.CancelScope(deadline=self.deadline if self.deadline is not None else math.inf)
        self._scopes.add(scope)
        try:
            with scope:
                yield scope
        finally:
            self._scopes.discard(scope)
