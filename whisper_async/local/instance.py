"""One instance of an endpoint: a supervised container and its workers.

Each instance runs MaxConcurrentInvocationsPerInstance workers, and every worker takes jobs
from the endpoint's one queue, so N instances run N x that many jobs at once; an endpoint can
add an instance or retire one (it finishes its running jobs first) at any time. Threads are
per worker, never per job.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

from .jobqueue import Job, JobQueue
from .supervisor import FAILED, HEALTHY, ContainerHandle, Supervisor

RunJob = Callable[[Job, ContainerHandle], None]


class Instance:
    def __init__(
        self,
        jobs: JobQueue,
        concurrency: int,
        launch: Callable[[str], ContainerHandle],
        startup_timeout: float,
        run_job: RunJob,
        on_failed: Callable[[Instance, str], None],
    ) -> None:
        self.id = f"i-{uuid.uuid4().hex[:17]}"  # AWS's shape: a log stream per instance
        self.jobs = jobs
        self.concurrency = concurrency
        self._run_job = run_job
        self._on_failed = on_failed
        self._retiring = False  # read without a lock by the queue's take()
        self._started = False
        self._lock = threading.Lock()
        self._workers: list[threading.Thread] = []
        self._busy = 0
        self.supervisor = Supervisor(
            self.id, lambda: launch(self.id), startup_timeout, self._supervisor_changed
        )

    def start(self) -> str | None:
        """Start the container (blocking) and then the workers; None, or why it failed."""
        reason = self.supervisor.start()
        if reason is not None:
            return reason
        with self._lock:
            self._started = True
            for slot in range(self.concurrency):
                worker = threading.Thread(
                    target=self._work, name=f"work-{self.id}-{slot}", daemon=True
                )
                worker.start()
                self._workers.append(worker)
        return None

    @property
    def healthy(self) -> bool:
        return self.supervisor.state == HEALTHY and not self._retiring

    def retire(self, grace: float = 25.0) -> None:
        """Take no more jobs, let the running ones finish, then stop the container."""
        self.stop_taking()
        for worker in list(self._workers):
            worker.join()
        self.supervisor.stop(grace)

    def stop(self, grace: float = 5.0) -> None:
        """Stop now: running jobs end with the container (the endpoint settles them first)."""
        self.stop_taking()
        self.supervisor.stop(grace)

    def describe(self) -> dict[str, Any]:
        container = self.supervisor.container
        with self._lock:
            running = self._busy
        return {
            "id": self.id,
            "state": "retiring" if self._retiring else self.supervisor.state,
            "pid": container.pid if container and container.alive() else None,
            "url": container.url if container else None,
            "workers": sum(worker.is_alive() for worker in self._workers),
            "running": running,
            "restarts": self.supervisor.restarts,
        }

    def stop_taking(self) -> None:
        self._retiring = True
        self.supervisor.wake()
        self.jobs.wake()

    def _supervisor_changed(self) -> None:
        self.jobs.wake()  # workers waiting in take() re-read `healthy`
        # A failure to start is the caller's to report (an update rolls back); this is a
        # container that served, died, and could not restart.
        if self._started and self.supervisor.state == FAILED and self.supervisor.reason:
            self._on_failed(self, self.supervisor.reason)

    def _work(self) -> None:
        while not self._retiring:
            container = self.supervisor.ready_container(lambda: self._retiring)
            if container is None:
                return
            job = self.jobs.take(lambda: self.healthy)
            if job is None:
                continue
            with self._lock:
                self._busy += 1
            try:
                self._run_job(job, container)
            finally:
                with self._lock:
                    self._busy -= 1
