"""Start real server processes on 127.0.0.1 and stop them."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import httpx

from whisper_async.local.runtime import free_port, process_argv

__all__ = ["free_port", "serve_process", "stop", "wait_for_status", "wait_until"]


def stop(process: subprocess.Popen[bytes], grace: float = 30) -> None:
    """SIGTERM, as SageMaker and the emulator send it; SIGKILL if it is not gone after `grace`."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_for_status(url: str, status: int, timeout: float = 60.0) -> float:
    """Poll `url` until it answers `status`; return the seconds it took."""
    started = time.monotonic()
    last: object = None
    while time.monotonic() - started < timeout:
        try:
            last = httpx.get(url, timeout=2).status_code
            if last == status:
                return time.monotonic() - started
        except httpx.TransportError as exc:
            last = exc
        time.sleep(0.05)
    raise TimeoutError(f"{url} did not answer {status} within {timeout}s (last: {last})")


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 600) -> None:
    """Poll until `condition` holds: a state, however slow the machine."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout:.0f}s")
        time.sleep(0.05)


@contextlib.contextmanager
def serve_process(
    model_dir: Path, extra_env: Mapping[str, str] | None = None, log_path: Path | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """Run `wasync-serve serve` on a free loopback port; yield the process and its base URL."""
    port = free_port()
    env = dict(os.environ, WASYNC_MODEL_DIR=str(model_dir), **(extra_env or {}))
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        process_argv(port),
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield process, f"http://127.0.0.1:{port}"
    finally:
        stop(process)
        if log_path:
            log.close()  # type: ignore[union-attr]
