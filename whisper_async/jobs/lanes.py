"""The batch's work queue and its pool of worker threads.

Two lanes: finished jobs to collect go first (they free memory and show progress), new inputs
to submit wait in a bounded lane, so reading a 10,000-file folder or a stdin stream blocks
instead of queueing everything in memory. Workers are daemon threads: on Ctrl-C the process
exits without waiting for a request in flight, and nothing that was not sent is sent after.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable

log = logging.getLogger("wasync.jobs")
Task = Callable[[], None]


def default_workers() -> int:
    """Sized for the machine: the work waits on the network, so a few per core (8 to 32)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(8, min(32, 4 * cores))


class Lanes:
    def __init__(self, workers: int, cancel: threading.Event) -> None:
        self.workers = workers
        self.cancel = cancel
        self.limit = 2 * workers
        self._urgent: deque[Task] = deque()
        self._normal: deque[Task] = deque()
        self._closed = False
        self._cond = threading.Condition()
        self._threads = [
            threading.Thread(target=self._work, name=f"wasync-job-{n}", daemon=True)
            for n in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def put_urgent(self, task: Task) -> None:
        with self._cond:
            self._urgent.append(task)
            self._cond.notify()

    def put(self, task: Task) -> bool:
        """Queue a submission, waiting while the lane is full; False once cancelled."""
        with self._cond:
            while len(self._normal) >= self.limit and not self.cancel.is_set():
                self._cond.wait(0.2)
            if self.cancel.is_set() or self._closed:
                return False
            self._normal.append(task)
            self._cond.notify()
            return True

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._normal.clear()
            self._urgent.clear()
            self._cond.notify_all()

    def join(self, timeout: float) -> bool:
        """After close(): wait, at most `timeout` seconds in all, for the tasks in flight to
        end. True when every worker has stopped."""
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in self._threads)

    def _next(self) -> Task | None:
        with self._cond:
            while True:
                if self._closed:
                    return None
                if self._urgent:
                    return self._urgent.popleft()
                if self._normal:
                    task = self._normal.popleft()
                    self._cond.notify_all()  # room in the lane: wake a waiting put()
                    return task
                self._cond.wait()

    def _work(self) -> None:
        while (task := self._next()) is not None:
            try:
                task()
            except Exception:  # a task reports its own failures; this is a last resort
                log.exception("a batch task failed")
