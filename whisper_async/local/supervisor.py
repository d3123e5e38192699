"""One instance's container: start it, pass its /ping health check, restart it when it dies,
stop it. The supervisor knows nothing of jobs; its instance asks it for a healthy container."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger("wasync.local")


class ContainerHandle(Protocol):
    """What the stack needs of a running container (`runtime.Container` is one)."""

    url: str

    @property
    def pid(self) -> int: ...

    def alive(self) -> bool: ...

    def wait_exit(self, timeout: float | None = None) -> int | None: ...

    def wait_healthy(self, timeout: float, should_stop: Callable[[], bool]) -> str | None: ...

    def last_lines(self, count: int = 8) -> str: ...

    def stop(self, grace: float = 25.0) -> None: ...


STARTING, HEALTHY, FAILED, STOPPED = "starting", "healthy", "failed", "stopped"


class Supervisor:
    def __init__(
        self,
        label: str,
        launch: Callable[[], ContainerHandle],
        startup_timeout: float,
        on_change: Callable[[], None],
    ) -> None:
        self.label = label
        self._launch = launch
        self._startup_timeout = startup_timeout
        self._on_change = on_change  # called, without our lock, after every change of state
        self._changed = threading.Condition()
        self._container: ContainerHandle | None = None
        self.state = STARTING  # read without the lock by the job queue's take()
        self.reason: str | None = None
        self.restarts = 0

    @property
    def container(self) -> ContainerHandle | None:
        with self._changed:
            return self._container

    def start(self) -> str | None:
        """Launch the container and wait until it is healthy; then watch it. Returns None,
        or why it never became healthy (the state is then `failed`)."""
        reason = self._launch_healthy()
        if reason is not None:
            self._set(FAILED, reason)
            return reason
        threading.Thread(target=self._watch, name=f"watch-{self.label}", daemon=True).start()
        return None

    def ready_container(self, give_up: Callable[[], bool]) -> ContainerHandle | None:
        """Block while the container starts or restarts: the container once healthy, or None
        once the supervisor failed or stopped, or `give_up()` (checked on every `wake()`)."""
        with self._changed:
            self._changed.wait_for(lambda: self.state != STARTING or give_up())
            return self._container if self.state == HEALTHY and not give_up() else None

    def wake(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def stop(self, grace: float = 25.0) -> None:
        with self._changed:
            self.state, container = STOPPED, self._container
            self._changed.notify_all()
        self._on_change()
        if container is not None:
            container.stop(grace)

    def _stopped(self) -> bool:
        return self.state == STOPPED

    def _launch_healthy(self) -> str | None:
        try:
            container = self._launch()
        except (OSError, RuntimeError) as exc:
            return f"could not start the container: {exc}"
        reason = container.wait_healthy(self._startup_timeout, self._stopped)
        with self._changed:
            adopted = reason is None and self.state != STOPPED
            if adopted:
                self._container, self.state = container, HEALTHY
                self._changed.notify_all()
        if not adopted:
            container.stop(grace=2)
            return reason or "the instance was stopped while its container started"
        self._on_change()
        return None

    def _set(self, state: str, reason: str | None) -> None:
        with self._changed:
            if self.state == STOPPED:
                return
            self.state, self.reason = state, reason
            self._changed.notify_all()
        self._on_change()

    def _watch(self) -> None:
        """Restart the container whenever it exits on its own, until the supervisor stops."""
        while True:
            container = self.container
            if container is None:
                return
            code = container.wait_exit()
            with self._changed:
                if self.state == STOPPED:
                    return
                self.restarts += 1
            self._set(STARTING, None)
            log.warning("%s: the container exited (%s); restarting", self.label, code)
            reason = self._launch_healthy()
            if reason is not None:
                self._set(FAILED, f"the container died and could not restart: {reason}")
                return
