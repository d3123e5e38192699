"""Run one job on one container: read its input, POST /invocations, and say how it ended."""

from __future__ import annotations

import json
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from ..attributes import ATTRIBUTES_HEADER
from .jobqueue import Job
from .supervisor import ContainerHandle


@dataclass(frozen=True)
class Outcome:
    """What goes to the job's output (success) or failure location, and the SNS reason."""

    success: bool
    body: bytes
    content_type: str
    reason: str | None = None

    @classmethod
    def failure(cls, code: str, message: str) -> Outcome:
        body = json.dumps({"error": code, "message": message}).encode()
        return cls(False, body, "application/json", message)


def invoke(
    job: Job, container: ContainerHandle, fetch_input: Callable[[str, Path], None]
) -> Outcome:
    if job.body_path is not None:
        return _post(job, container, job.body_path)
    with tempfile.TemporaryDirectory(prefix="wasync-job-") as scratch:
        assert job.input_location is not None  # the emulator requires one or the other
        payload = Path(scratch) / "input"
        try:
            fetch_input(job.input_location, payload)
        except Exception as exc:  # any reason the input cannot be read fails this job only
            return Outcome.failure("input_unreadable", f"cannot read {job.input_location}: {exc}")
        return _post(job, container, payload)


_CLIENT_LOCK = threading.Lock()
_CLIENT: httpx.Client | None = None


def _client() -> httpx.Client:
    """One HTTP client for every container, reusing connections: a fresh client per job
    (a new connection, and a new TLS context httpx builds even for plain HTTP) cost ~100 ms of
    CPU, which capped the stack at about ten jobs a second."""
    global _CLIENT
    with _CLIENT_LOCK:
        if _CLIENT is None:
            _CLIENT = httpx.Client(
                limits=httpx.Limits(max_connections=None, max_keepalive_connections=256)
            )
        return _CLIENT


def _post(job: Job, container: ContainerHandle, payload: Path) -> Outcome:
    headers = {
        "Content-Type": job.content_type or "application/octet-stream",
        "X-Amzn-SageMaker-Inference-Id": job.inference_id,  # the request log's InferenceId
    }
    if job.accept:
        headers["Accept"] = job.accept
    if job.custom_attributes:
        headers[ATTRIBUTES_HEADER] = job.custom_attributes
    try:
        with payload.open("rb") as body:
            response = _client().post(
                f"{container.url}/invocations",
                content=body,
                headers=headers,
                timeout=httpx.Timeout(job.invocation_timeout, connect=10),
            )
    except httpx.TimeoutException:
        return Outcome.failure(
            "invocation_timeout",
            f"the model did not answer within InvocationTimeoutSeconds ({job.invocation_timeout}s)",
        )
    except httpx.TransportError as exc:
        code = container.wait_exit(timeout=2.0)  # a dying container takes a moment to exit
        detail = (
            f"the container exited with code {code}"
            if code is not None
            else f"the connection to the container failed ({exc})"
        )
        return Outcome.failure(
            "container_failed",
            f"{detail} while processing this request: {container.last_lines(3)}",
        )
    content_type = response.headers.get("content-type") or "application/octet-stream"
    if response.status_code == 200:
        return Outcome(True, response.content, content_type)
    kind = "server" if response.status_code >= 500 else "client"
    reason = (
        f"Received {kind} error ({response.status_code}) from primary with message "
        f'"{response.text[:500]}"'
    )
    return Outcome(False, response.content, content_type, reason)
