"""One JSON line per request (EMF, see `whisper_async.requestlog`), written once it is answered.

An ASGI middleware times the request and sees the status it was answered with; the handler and
the error handlers fill in what only they know (audio length, options, the error) through
`details_of(request)`. /ping is not logged: SageMaker calls it every few seconds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import requestlog
from ..attributes import TranscribeOptions
from ..digits import whole_number

INFERENCE_ID = "x-amzn-sagemaker-inference-id"
_STATE_KEY = "wasync_request"

request_logger = logging.getLogger("wasync.requests")


@dataclass
class RequestDetails:
    engine: str | None = None
    model: str | None = None
    options: dict[str, Any] | None = None
    body_bytes: int | None = None
    body_complete: bool = False  # read to its end: the connection can carry the next request
    body_sha256: str | None = None  # of the whole body, once read to its end
    audio_seconds: float | None = None
    processing_seconds: float | None = None
    language: str | None = None
    error: str | None = None
    message: str | None = None

    def set_options(self, options: TranscribeOptions) -> None:
        values = asdict(options)
        # the prompt is the user's text: its length is logged, not its words
        prompt = values.pop("initial_prompt")
        values["initial_prompt_chars"] = len(prompt) if prompt else 0
        self.options = values


def details_of(request: Request) -> RequestDetails:
    """This request's details, shared with the middleware (a fresh object without it)."""
    state = request.scope.setdefault("state", {})
    details = state.get(_STATE_KEY)
    if not isinstance(details, RequestDetails):
        details = state[_STATE_KEY] = RequestDetails()
    return details


def write_to_log(line: str) -> None:
    request_logger.info(line)


class RequestLog:
    def __init__(
        self,
        app: ASGIApp,
        endpoint: str,
        write: Callable[[str], None] = write_to_log,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app = app
        self.endpoint = endpoint
        self.write = write
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == "/ping":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        details = RequestDetails()
        scope.setdefault("state", {})[_STATE_KEY] = details
        status: list[int] = []

        async def remember_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, remember_status)
        except BaseException:
            details.error = details.error or "internal_error"
            raise
        finally:
            self.write(self.line(scope, details, status[0] if status else 500, started))

    def line(self, scope: Scope, details: RequestDetails, status: int, started: float) -> str:
        headers = {
            key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]
        }
        declared = headers.get("content-length", "")
        audio, processing = details.audio_seconds, details.processing_seconds
        record: dict[str, Any] = {
            "Endpoint": self.endpoint,
            "InferenceId": _cut(headers.get(INFERENCE_ID), MOST_ID_CHARS),
            "Method": scope["method"],
            "Path": _cut(scope["path"], MOST_PATH_CHARS),
            "Status": status,
            "Outcome": "ok" if status < 400 and not details.error else details.error or "error",
            "Message": details.message,
            "ContentLength": whole_number(declared),
            "BodyBytes": details.body_bytes,
            "AudioSeconds": audio,
            "ProcessingSeconds": processing,
            "RealTimeFactor": round(processing / audio, 4) if audio and processing else None,
            "RequestSeconds": round(time.perf_counter() - started, 3),
            "Engine": details.engine,
            "Model": details.model,
            "Language": details.language,
            "Options": details.options,
        }
        return requestlog.format_line(record, int(self.clock() * 1000))


# What a client sends is kept to these lengths in the log: one request with a 15,000-character
# path and an 8,000-character id wrote a 24 KB line. SageMaker's inference ids are at most 64.
MOST_ID_CHARS, MOST_PATH_CHARS = 128, 200


def _cut(value: str | None, most: int) -> str | None:
    return value if value is None or len(value) <= most else value[:most] + "..."
