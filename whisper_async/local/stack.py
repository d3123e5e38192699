"""`wasync local up|down|status|env|logs`: start and stop the stack, by PID, from any shell."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from ..errors import NotFoundError, UsageError, WasyncError
from ..files import write_atomically
from ..processes import command_line, pid_alive
from . import containers
from .daemon import DOWN_REQUEST, UNFINISHED
from .deployment import MAX_INSTANCES_ENV, max_instances
from .extraction import DEFAULT_MAX_MODEL_BYTES, MAX_MODEL_SIZE_ENV, parse_size
from .profile import STACK_FILE, StackInfo, env_variables, read_stack
from .runtime import ports_taken
from .timescale import TimeScale

LOG_FILE = "stack.log"
MOST_GRACE_SECONDS = 3600  # an invocation runs at most an hour: more waits for nothing


DAEMON_MODULE = "whisper_async.local.daemon"


def running_stack(state_dir: Path) -> StackInfo | None:
    stack = read_stack(state_dir)
    return stack if stack and _daemon_alive(stack) else None


def _daemon_alive(stack: StackInfo) -> bool:
    """The stack's daemon still runs under its pid. A daemon killed by kill -9, the OOM killer
    or a reboot leaves stack.json behind, and its pid may since belong to another process,
    which `local down` must not signal."""
    if not pid_alive(stack.pid):
        return False
    started_as = command_line(stack.pid)
    if started_as is None:  # cannot be read here: the pid alone has to do
        return True
    # Whole arguments: /x/s is not the daemon of /x/s-b, which may hold the pid after a reboot.
    words = f" {started_as} "
    return f" -m {DAEMON_MODULE} " in words and f" --state-dir {stack.state_dir} " in words


def _log_tail(state_dir: Path, lines: int = 15) -> str:
    try:
        return "\n".join((state_dir / LOG_FILE).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def max_model_bytes(setting: str | None) -> int:
    """The extraction cap: the argument, else WASYNC_LOCAL_MAX_MODEL_SIZE, else 8 GiB."""
    text = setting or os.environ.get(MAX_MODEL_SIZE_ENV)
    if not text:
        return DEFAULT_MAX_MODEL_BYTES
    try:
        return parse_size(text)
    except ValueError as exc:
        raise UsageError(f"{MAX_MODEL_SIZE_ENV}: {exc}", "for example 8GiB") from None


def make_state_dir(state_dir: Path) -> None:
    """The stack's folder, made if missing; a path that cannot be one is a usage error."""
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UsageError(
            f"--state-dir {state_dir} is a file, not a folder", "pass a folder for the stack"
        ) from None
    except OSError as exc:
        raise UsageError(
            f"cannot make the stack's folder {state_dir}: {exc.strerror or exc}",
            "pass a --state-dir in a place you can write",
        ) from None


def up(
    state_dir: Path,
    port: int = 0,
    runtime: str = "process",
    timeout: float = 60,
    max_model_size: str | None = None,
    time_scale: float = 1.0,
) -> StackInfo:
    """Start the stack's daemon and return once it answers. `max_model_size` caps what one
    model.tar.gz may expand to (default: WASYNC_LOCAL_MAX_MODEL_SIZE, else 8 GiB);
    `time_scale` is how many AWS seconds pass in one second of the stack (`timescale.py`)."""
    state_dir = state_dir.expanduser().resolve()
    cap = max_model_bytes(max_model_size)
    try:
        max_instances()  # read by the daemon, which inherits it: refused here, not at a deploy
    except ValueError as exc:
        raise UsageError(str(exc), f"for example {MAX_INSTANCES_ENV}=8") from None
    try:
        TimeScale(time_scale)
    except ValueError as exc:
        raise UsageError(f"--time-scale: {exc}", "for example --time-scale 60") from None
    existing = running_stack(state_dir)
    if existing:
        raise UsageError(
            f"A local stack already runs from {state_dir} (pid {existing.pid}).",
            f"use it, stop it with `wasync local down --state-dir {shlex.quote(str(state_dir))}`, "
            "or pass another --state-dir",
        )
    containers.engine_for(runtime)  # refuse a missing or stopped engine before starting anything
    if port and not 0 < port < 65535:  # the emulator takes port + 1
        raise UsageError(
            f"--port {port} is not a port for the stack", "pass 1 to 65534, or 0 for free ports"
        )
    taken = ports_taken(port, port + 1) if port else None
    if taken:
        raise UsageError(
            f"--port {port}: {taken} in use by another program or another local stack (moto "
            "takes --port, the SageMaker emulator the next one).",
            "pass another --port, or leave it out to take free ports",
        )
    make_state_dir(state_dir)
    for stale in (STACK_FILE, DOWN_REQUEST, UNFINISHED):
        (state_dir / stale).unlink(missing_ok=True)
    argv = [
        sys.executable,
        "-m",
        DAEMON_MODULE,
        "--state-dir",
        str(state_dir),
        "--runtime",
        runtime,
        "--max-model-bytes",
        str(cap),
        "--time-scale",
        repr(float(time_scale)),
    ]
    if port:
        argv += ["--port", str(port)]
    with (state_dir / LOG_FILE).open("ab") as log:
        process = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        stack = _wait_until_up(process, state_dir, timeout)
    except BaseException:  # the timeout, or Ctrl-C: a stack left starting would run unseen
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(30)
        (state_dir / STACK_FILE).unlink(missing_ok=True)
        raise
    return stack


def _wait_until_up(process: subprocess.Popen[bytes], state_dir: Path, timeout: float) -> StackInfo:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise WasyncError(
                f"The local stack exited during start-up:\n{_log_tail(state_dir)}",
                f"see {state_dir / LOG_FILE}",
            )
        stack = read_stack(state_dir)
        if stack and _answers(stack):
            return stack
        time.sleep(0.1)
    raise WasyncError(
        f"The local stack did not start within {int(timeout)}s.", f"see {state_dir / LOG_FILE}"
    )


def _answers(stack: StackInfo) -> bool:
    try:
        httpx.get(f"{stack.sagemaker_url}/_wasync/status", timeout=2).raise_for_status()
        httpx.get(f"{stack.moto_url}/moto-api/", timeout=2)
        return True
    except httpx.HTTPError:
        return False


@dataclass(frozen=True)
class DownResult:
    stopped: bool
    unfinished: list[dict[str, str]]


def down(state_dir: Path, grace: float = 30.0) -> DownResult:
    if not 0 <= grace <= MOST_GRACE_SECONDS:  # nan too
        raise UsageError(
            f"--grace {grace:g} is not a number of seconds from 0 to {MOST_GRACE_SECONDS}",
            "pass how long running jobs may take to finish, e.g. --grace 30",
        )
    state_dir = state_dir.expanduser().resolve()
    stack = running_stack(state_dir)
    if stack is None:
        (state_dir / STACK_FILE).unlink(missing_ok=True)
        return DownResult(False, [])
    write_atomically(state_dir / DOWN_REQUEST, json.dumps({"grace": grace}))
    os.kill(stack.pid, 15)
    deadline = time.monotonic() + grace + 60
    while _daemon_alive(stack) and time.monotonic() < deadline:
        time.sleep(0.1)
        _reap(stack.pid)
    if _daemon_alive(stack):
        os.kill(stack.pid, 9)
    try:
        unfinished = json.loads((state_dir / UNFINISHED).read_text())
    except (OSError, ValueError):
        unfinished = []
    return DownResult(True, unfinished)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def status(state_dir: Path) -> dict[str, Any]:
    state_dir = state_dir.expanduser().resolve()
    stack = running_stack(state_dir)
    if stack is None:
        return {"running": False, "state_dir": str(state_dir)}
    endpoints = httpx.get(f"{stack.sagemaker_url}/_wasync/status", timeout=5).json()["endpoints"]
    return {
        "running": True,
        "pid": stack.pid,
        "state_dir": str(state_dir),
        "time_scale": stack.time_scale,
        "services": {"moto": stack.moto_url, "sagemaker": stack.sagemaker_url},
        "endpoints": endpoints,
    }


def environment(state_dir: Path) -> dict[str, str]:
    stack = running_stack(state_dir.expanduser().resolve())
    if stack is None:
        raise UsageError(
            f"No local stack runs from {state_dir}.", "start one with `wasync local up`"
        )
    return env_variables(stack)


def log_text(state_dir: Path, lines: int = 200) -> str:
    state_dir = state_dir.expanduser().resolve()
    parts = []
    for path in [state_dir / LOG_FILE, *sorted((state_dir / "logs").glob("*.log"))]:
        if path.is_file():
            tail = path.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"==> {path} <==\n" + "\n".join(tail))
    if not parts:
        raise NotFoundError(
            f"No local stack has run from {state_dir}: it holds no log.",
            "pass the --state-dir the stack was started with, or start one with `wasync local up`",
        )
    return "\n\n".join(parts)
