"""Run serving containers for the emulator: as `wasync-serve` processes, or with an engine."""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO

import httpx

from ..errors import WasyncError
from . import containers
from .environment import serving_environment

log = logging.getLogger("wasync.local")


# A container log line as the serving app writes it (serving/main.py's LOG_FORMAT): its time,
# then its level; lines at INFO and below say nothing about why a container failed.
_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ ")
_ROUTINE = re.compile(r"^(DEBUG|INFO) ")


def telling_lines(lines: list[str], count: int) -> list[str]:
    """The last `count` lines that tell why a container failed, without their timestamps:
    warnings, errors and anything not in the log's format (a traceback), when there are
    any; else the last lines whatever they are (uvicorn's start-up lines, for one)."""
    bare = [_TIMESTAMP.sub("", line) for line in lines]
    telling = [line for line in bare if not _ROUTINE.match(line)]
    return (telling or bare)[-count:]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ports_taken(*ports: int) -> str | None:
    """Which of `ports` a server could not listen on at 127.0.0.1 now (another program's), as
    "port 8080 is" or "ports 8080 and 8081 are"; None when all are free."""
    taken = []
    for port in ports:
        with socket.socket() as sock:
            # as the servers bind: a port whose last connections wait out TIME_WAIT is free
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                taken.append(str(port))
    if not taken:
        return None
    return f"port {taken[0]} is" if len(taken) == 1 else f"ports {' and '.join(taken)} are"


class Container:
    """One serving container: a process that answers /ping and /invocations on loopback."""

    def __init__(
        self,
        argv: list[str],
        env: Mapping[str, str],
        port: int,
        log_path: Path,
        on_log: Callable[[str], None] = lambda line: None,
        on_killed: Callable[[], None] = lambda: None,
        cwd: str | None = None,
    ) -> None:
        self.port = port
        self._on_killed = on_killed
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self.tail: collections.deque[str] = collections.deque(maxlen=20)
        self._on_log = on_log
        # When it started, first answered /ping (any status), and answered 200: the container's
        # start-up and its model load, told apart.
        self.started_at = time.time()
        self.answered_at: float | None = None
        self.healthy_at: float | None = None
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            argv,
            env=dict(env),
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._pump, args=(self.process.stdout,), daemon=True)
        self._reader.start()

    def _pump(self, stream: IO[bytes] | None) -> None:
        if stream is None:
            return
        with self.log_path.open("ab") as log:
            for raw in iter(stream.readline, b""):
                log.write(raw)
                log.flush()
                line = raw.decode("utf-8", "replace").rstrip()
                if not line.lstrip().startswith("{"):  # see last_lines
                    self.tail.append(line)
                self._on_log(line)

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def wait_exit(self, timeout: float | None = None) -> int | None:
        """The exit code once the process has exited, or None if it still runs after `timeout`."""
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def last_lines(self, count: int = 8) -> str:
        """The container's last log lines, for a failure's reason. Its request log (one JSON
        line per request) is left out: it names other jobs, and a reason is readable by
        whoever owns the failed one."""
        self._reader.join(timeout=0.5) if not self.alive() else None
        return " | ".join(telling_lines(list(self.tail), count)) or (
            "(nothing in its log but requests)"
        )

    def ping(self) -> int | None:
        try:
            return httpx.get(f"{self.url}/ping", timeout=2).status_code
        except httpx.HTTPError:
            return None

    def wait_healthy(
        self, timeout: float, should_stop: Callable[[], bool] = lambda: False
    ) -> str | None:
        """None once /ping is 200; otherwise the reason it never became healthy."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not should_stop():
            if not self.alive():
                return (
                    f"the container exited with code {self.process.returncode}: {self.last_lines()}"
                )
            status = self.ping()
            if status is not None and self.answered_at is None:
                self.answered_at = time.time()
            if status == 200:
                self.healthy_at = time.time()
                return None
            if status == 500:
                time.sleep(0.2)
                return (
                    f"the container's /ping returned 500 (model load failed): {self.last_lines()}"
                )
            time.sleep(0.1)
        return f"the container did not pass the /ping health check within {int(timeout)}s: {self.last_lines()}"

    def stop(self, grace: float = 25.0) -> None:
        if not self.alive():
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=grace)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            self._on_killed()  # an engine's container outlives its killed client


def process_argv(port: int, isolated: bool = False) -> list[str]:
    """The serving command; `isolated` (`python -I -u`) ignores PYTHON* variables, the user's
    site-packages and the current folder, as the local stack's containers must."""
    return [
        sys.executable,
        *(["-I", "-u"] if isolated else []),
        "-m",
        "whisper_async.serving.main",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]


def start_container(
    runtime: str,
    image: str,
    model_dir: Path,
    environment: Mapping[str, str],
    log_path: Path,
    on_log: Callable[[str], None],
) -> Container:
    """`process`: the serving code as a local process. `podman`, `docker`, `finch`:
    `ENGINE run IMAGE serve` with that engine (see containers.py)."""
    port = free_port()
    if runtime != containers.PROCESS:
        try:
            engine = containers.engine_for(runtime)
        except WasyncError as exc:  # e.g. the engine stopped since `local up`
            raise RuntimeError(exc.message) from exc
        assert engine is not None
        argv = containers.run_argv(engine, image, port, model_dir, environment)
        return Container(
            argv,
            dict(os.environ),
            port,
            log_path,
            on_log,
            on_killed=lambda: containers.remove_container(engine, port),
        )
    argv = process_argv(port, isolated=True)
    env, dropped = serving_environment(environment, model_dir)
    if dropped:
        note = (
            f"wasync local: ignored {', '.join(dropped)} from the model's Environment: only "
            "WASYNC_*, SAGEMAKER_*, CT2_* and thread counts pass to a serving process"
        )
        log.warning("%s", note)
        on_log(note)
    # its own home as the working folder: whatever it writes there goes with the model
    return Container(argv, env, port, log_path, on_log, cwd=env["HOME"])
