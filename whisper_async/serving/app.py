"""The Starlette app: GET /ping and POST /invocations, SageMaker's container contract."""

from __future__ import annotations

import contextlib
import enum
import logging
import os
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import formats
from ..attributes import OptionError, TranscribeOptions, defaults_from_env, parse_attributes
from .audio import SAMPLE_RATE, decode_audio
from .engines import Engine
from .errors import (
    STATUS_BY_ERROR,
    BodyTooLargeError,
    EmptyBodyError,
    EngineError,
    NotReadyError,
    status_for,
)

log = logging.getLogger("wasync.serve")

CUSTOM_ATTRIBUTES = "x-amzn-sagemaker-custom-attributes"
ONE_GIB = 1 << 30


class Health(enum.Enum):
    STARTING = "starting"
    READY = "ready"
    FAILED = "failed"


@dataclass(frozen=True)
class ServerSettings:
    model_dir: Path = Path("/opt/ml/model")
    max_concurrency: int | None = None  # None: one per GPU, one on CPU
    max_body_bytes: int = ONE_GIB
    tmp_dir: Path | None = None
    defaults: TranscribeOptions = field(default_factory=TranscribeOptions)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> ServerSettings:
        concurrency = environ.get("WASYNC_MAX_CONCURRENCY")
        return cls(
            model_dir=Path(environ.get("WASYNC_MODEL_DIR", "/opt/ml/model")),
            max_concurrency=int(concurrency) if concurrency else None,
            max_body_bytes=int(environ.get("WASYNC_MAX_BODY_BYTES", ONE_GIB)),
            tmp_dir=Path(environ["WASYNC_TMP_DIR"]) if environ.get("WASYNC_TMP_DIR") else None,
            defaults=defaults_from_env(environ),
        )


class ServingState:
    """The model's life cycle, shared between the loader thread and the handlers."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.health = Health.STARTING
        self.engine: Engine | None = None
        self.failure: str | None = None
        self.concurrency = settings.max_concurrency or 1
        self._limiter: anyio.CapacityLimiter | None = None

    def load(self, loader: Callable[[], Engine]) -> None:
        started = time.perf_counter()
        try:
            engine = loader()
            if self.settings.max_concurrency is None:
                from .engines import default_concurrency

                self.concurrency = default_concurrency(engine.name)
        except BaseException as exc:
            self.failure = f"{type(exc).__name__}: {exc}"
            self.health = Health.FAILED
            log.error("model load failed: %s", self.failure)
            return
        self.engine = engine
        self.health = Health.READY
        log.info(
            "model %s loaded with the %s engine in %.2fs; concurrency %d",
            engine.model_name,
            engine.name,
            time.perf_counter() - started,
            self.concurrency,
        )

    @property
    def limiter(self) -> anyio.CapacityLimiter:
        # Created lazily, inside the event loop, once concurrency is known.
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.concurrency)
        return self._limiter


def _state(request: Request) -> ServingState:
    state: ServingState = request.app.state.serving
    return state


async def ping(request: Request) -> Response:
    state = _state(request)
    if state.health is Health.READY:
        return JSONResponse({"status": "ready"})
    if state.health is Health.FAILED:
        return JSONResponse({"status": "failed", "error": state.failure}, status_code=500)
    return JSONResponse({"status": "starting"}, status_code=503)


def request_options(request: Request, defaults: TranscribeOptions) -> TranscribeOptions:
    values: dict[str, Any] = {}
    accept = request.headers.get("accept", "").split(";")[0].strip().lower()
    if accept in formats.ACCEPT_TO_FORMAT:
        values["format"] = formats.ACCEPT_TO_FORMAT[accept]
    values.update(parse_attributes(request.headers.get(CUSTOM_ATTRIBUTES)))
    return defaults.with_values(values)


async def _receive_to_file(request: Request, path: Path, limit: int) -> int:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BodyTooLargeError(f"the body is {int(declared)} bytes; the limit is {limit}")
    size = 0
    with path.open("wb") as handle:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise BodyTooLargeError(f"the body exceeds the limit of {limit} bytes")
            handle.write(chunk)
    if size == 0:
        raise EmptyBodyError("the request body is empty; send the audio file as the body")
    return size


def transcribe_file(engine: Engine, path: Path, options: TranscribeOptions) -> dict[str, Any]:
    started = time.perf_counter()
    audio = decode_audio(path)
    try:
        transcription = engine.transcribe(audio, options)
    except OptionError:
        raise
    except Exception as exc:
        log.exception("engine failed")
        raise EngineError(f"the {engine.name} engine failed: {type(exc).__name__}: {exc}") from exc
    elapsed = time.perf_counter() - started
    audio_seconds = len(audio) / SAMPLE_RATE
    return {
        "text": transcription.text,
        "language": transcription.language,
        "language_probability": round(transcription.language_probability, 4),
        "duration": round(audio_seconds, 3),
        "segments": transcription.segments,
        "engine": engine.name,
        "model": engine.model_name,
        "task": options.task,
        "batch_size": transcription.batch_size,
        "timings": {
            "audio_seconds": round(audio_seconds, 3),
            "processing_seconds": round(elapsed, 3),
            "real_time_factor": round(elapsed / audio_seconds, 4) if audio_seconds else None,
        },
    }


async def invocations(request: Request) -> Response:
    state = _state(request)
    if state.health is not Health.READY or state.engine is None:
        reason = state.failure or "the model is still loading"
        raise NotReadyError(f"the model is not ready: {reason}; retry when /ping returns 200")
    options = request_options(request, state.settings.defaults)
    fd, name = tempfile.mkstemp(prefix="wasync-", suffix=".audio", dir=state.settings.tmp_dir)
    os.close(fd)
    path = Path(name)
    try:
        await _receive_to_file(request, path, state.settings.max_body_bytes)
        result = await anyio.to_thread.run_sync(
            transcribe_file, state.engine, path, options, limiter=state.limiter
        )
    finally:
        path.unlink(missing_ok=True)
    body = formats.render(result, options.format).encode("utf-8")
    return Response(body, media_type=formats.CONTENT_TYPES[options.format])


async def handle_error(request: Request, exc: Exception) -> Response:
    status, code = status_for(exc)
    if status >= 500:
        log.error("%s %s -> %d %s", request.method, request.url.path, status, exc)
    return JSONResponse({"error": code, "message": str(exc)}, status_code=status)


def create_app(settings: ServerSettings, engine_loader: Callable[[], Engine]) -> Starlette:
    """The server. The model loads in a background thread so that /ping answers at once."""
    state = ServingState(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.serving = state
        threading.Thread(
            target=state.load, args=(engine_loader,), name="model-loader", daemon=True
        ).start()
        yield

    return Starlette(
        routes=[
            Route("/ping", ping, methods=["GET"]),
            Route("/invocations", invocations, methods=["POST"]),
        ],
        lifespan=lifespan,
        exception_handlers={error_type: handle_error for error_type, _, _ in STATUS_BY_ERROR},
    )
