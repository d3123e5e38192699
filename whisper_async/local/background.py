"""An endpoint's background work (creating, updating, resizing, closing, its tick) as threads
that can be waited for. They are daemon threads, so they end with the stack's process, but a
container one of them is starting does not: the stack waits for them before it exits."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


class BackgroundWork:
    def __init__(self, label: str) -> None:
        self.label = label  # names the threads: `create-whisper`
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def run(self, work: Callable[..., None], *args: Any) -> None:
        name = f"{work.__name__.strip('_')}-{self.label}"
        thread = threading.Thread(target=work, args=args, name=name, daemon=True)
        with self._lock:  # started under the lock: a thread not yet started is not alive
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
            thread.start()

    def join(self, deadline: float) -> bool:
        """Wait until `deadline` (time.monotonic()) for the work to end (all but the calling
        thread's own); True once it has."""
        with self._lock:
            others = [t for t in self._threads if t is not threading.current_thread()]
        for thread in others:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in others)

    def running(self) -> bool:
        with self._lock:
            return any(thread.is_alive() for thread in self._threads)


class Departing:
    """The background work of deleted endpoints, kept while it still runs (their instances
    may be stopping), so that the stack can wait for it too before it exits."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._work: list[BackgroundWork] = []

    def add(self, work: BackgroundWork) -> None:
        with self._lock:
            self._work = [w for w in self._work if w.running()] + [work]

    def still_running(self) -> list[BackgroundWork]:
        with self._lock:
            self._work = [w for w in self._work if w.running()]
            return list(self._work)
