"""The Starlette app: GET /ping and POST /invocations, SageMaker's container contract."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import errno
import functools
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
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import formats
from ..attributes import (
    ATTRIBUTES_HEADER,
    OptionError,
    TranscribeOptions,
    defaults_from_env,
    parse_attributes,
)
from ..errors import quoted
from ..setting_numbers import MOST_BYTES, number
from .audio import AudioDecodeError
from .body import receive_to_file
from .drain import Drain
from .engines import Engine, batch_limit, check_options
from .errors import (
    CLOSES_CONNECTION,
    CODE_BY_STATUS,
    RETRY_AFTER_SECONDS,
    RETRY_LATER,
    STATUS_BY_ERROR,
    ModelFailedError,
    NotReadyError,
    OutOfFilesError,
    ShuttingDownError,
    status_for,
)
from .memory import available_bytes
from .request_log import RequestLog, details_of
from .transcription import transcribe_file
from .windows import ClientGoneError, WindowPlan, default_window_seconds

log = logging.getLogger("wasync.serve")

# Bodies that wrap the audio instead of being it; a request's Content-Type says so.
WRAPPED_BODIES = ("multipart/form-data", "application/x-www-form-urlencoded", "application/json")
WRAPPED_BODY_HINT = (
    "the body was sent as {kind}, but must be the audio file itself: "
    "curl --data-binary @talk.wav (not -F), or the SDK's invoke_endpoint_async with the file in S3"
)

CUSTOM_ATTRIBUTES = ATTRIBUTES_HEADER.lower()  # as ASGI gives header names
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
    windows: WindowPlan = field(default_factory=WindowPlan)
    head_timeout_seconds: float = 60.0  # longest time a request's headers may take
    body_idle_seconds: float = 60.0  # longest wait for the next piece of the body
    body_timeout_seconds: float = 900.0  # longest time to receive a whole body
    drain_seconds: float = 25.0  # after SIGTERM; SageMaker sends SIGKILL 30 s after it
    endpoint_name: str = "unknown"  # the request log's Endpoint dimension

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> ServerSettings:
        """Settings from WASYNC_* variables; ValueError names a variable that is not valid."""
        concurrency = int(number(environ, "WASYNC_MAX_CONCURRENCY", 0, most=1024)) or None
        batch_limit(environ, "cpu")  # checked at start; the engine reads it as the model loads
        defaults = cls()
        return cls(
            model_dir=Path(environ.get("WASYNC_MODEL_DIR", "/opt/ml/model")),
            max_concurrency=concurrency,
            max_body_bytes=int(number(environ, "WASYNC_MAX_BODY_BYTES", ONE_GIB, most=MOST_BYTES)),
            tmp_dir=_writable_folder(environ, "WASYNC_TMP_DIR"),
            defaults=defaults_from_env(environ),
            windows=WindowPlan(
                window_seconds=number(
                    environ,
                    "WASYNC_WINDOW_SECONDS",
                    default_window_seconds(available_bytes(), concurrency or 1),
                ),
                max_seconds=number(
                    environ, "WASYNC_MAX_AUDIO_SECONDS", defaults.windows.max_seconds
                ),
            ),
            head_timeout_seconds=number(
                environ, "WASYNC_HEAD_TIMEOUT_SECONDS", defaults.head_timeout_seconds
            ),
            body_idle_seconds=number(
                environ, "WASYNC_BODY_IDLE_SECONDS", defaults.body_idle_seconds
            ),
            body_timeout_seconds=number(
                environ, "WASYNC_BODY_TIMEOUT_SECONDS", defaults.body_timeout_seconds
            ),
            drain_seconds=number(environ, "WASYNC_DRAIN_SECONDS", defaults.drain_seconds),
            endpoint_name=environ.get("WASYNC_ENDPOINT_NAME") or defaults.endpoint_name,
        )


def _writable_folder(environ: Mapping[str, str], name: str) -> Path | None:
    """A folder setting, checked at start: else every request would fail with a 500 while
    /ping said ready."""
    value = environ.get(name)
    if not value:
        return None
    folder = Path(value)
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"{name}={value} is not a folder this server can write to")
    return folder


class ServingState:
    """The model's life cycle, shared between the loader thread and the handlers."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.health = Health.STARTING
        self.engine: Engine | None = None
        self.failure: str | None = None
        self.concurrency = settings.max_concurrency or 1
        self.in_flight = 0  # requests being received, queued or transcribed
        self.drain = Drain(settings.drain_seconds)
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
            "model %s loaded with the %s engine in %.2fs; concurrency %d; audio up to %.0f s "
            "in windows of %.0f s",
            engine.model_name,
            engine.name,
            time.perf_counter() - started,
            self.concurrency,
            self.settings.windows.max_seconds,
            self.settings.windows.window_seconds,
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
        response = JSONResponse({"status": "ready", "in_flight": state.in_flight})
    elif state.health is Health.FAILED:
        response = JSONResponse({"status": "failed", "error": state.failure}, status_code=500)
    else:
        response = JSONResponse({"status": "starting"}, status_code=503)
    # a GET with a 100 MB body trickled a byte a minute held its connection past every timeout
    return closed_if_body_unread(request, response)


def request_options(request: Request, defaults: TranscribeOptions) -> TranscribeOptions:
    # Options anywhere else were ignored without a word: `?language=de` got English.
    if request.url.query:
        raise OptionError(
            f"the URL has a query ({quoted(request.url.query, 80)}), which this server does not "
            f"read: send options in the {ATTRIBUTES_HEADER} header, e.g. language=de;format=srt"
        )
    attributes = request.headers.getlist(CUSTOM_ATTRIBUTES)
    if len(attributes) > 1:
        raise OptionError(
            f"the request has {len(attributes)} {ATTRIBUTES_HEADER} headers: send one, with "
            "its options separated by ';'"
        )
    values: dict[str, Any] = {}
    accepted = formats.format_for_accept(request.headers.get("accept", ""))
    if accepted is not None:
        values["format"] = accepted
    values.update(parse_attributes(attributes[0] if attributes else None))
    return defaults.with_values(values)


async def invocations(request: Request) -> Response:
    state = _state(request)
    details = details_of(request)
    if state.health is Health.FAILED:
        raise ModelFailedError(
            f"the model failed to load ({state.failure}); this server will not recover: fix "
            "the model or the image (the server's log has the details) and deploy again"
        )
    if state.health is not Health.READY or state.engine is None:
        raise NotReadyError("the model is still loading; retry when /ping returns 200")
    engine = state.engine
    details.engine, details.model = engine.name, engine.model_name
    options = request_options(request, state.settings.defaults)
    details.set_options(options)
    check_options(engine, options)  # before the upload and the wait for a slot, not after
    state.in_flight += 1
    try:
        with state.drain.bounded() as scope:
            result = await _receive_and_transcribe(request, state, engine, options)
    finally:
        state.in_flight -= 1
    if scope.cancelled_caught:
        raise ShuttingDownError(
            "the server is shutting down (SIGTERM: the instance is being stopped, e.g. by "
            f"scale-in) and this request did not finish within the {state.drain.seconds:g} s "
            "drain period (WASYNC_DRAIN_SECONDS); nothing was transcribed: submit it again"
        )
    timings = result["timings"]
    details.audio_seconds = timings["audio_seconds"]
    details.processing_seconds = timings["processing_seconds"]
    details.language = result["language"]
    result["audio_sha256"] = details.body_sha256
    body = formats.render(result, options.format).encode("utf-8")
    return Response(body, media_type=formats.CONTENT_TYPES[options.format])


async def _receive_and_transcribe(
    request: Request, state: ServingState, engine: Engine, options: TranscribeOptions
) -> dict[str, Any]:
    try:
        fd, name = tempfile.mkstemp(prefix="wasync-", suffix=".audio", dir=state.settings.tmp_dir)
    except OSError as error:
        if error.errno not in (errno.EMFILE, errno.ENFILE):
            raise
        raise OutOfFilesError(
            "the server has no file descriptor left for the body (too many requests at once); "
            "send it again shortly"
        ) from None
    os.close(fd)
    path = Path(name)
    try:
        await receive_to_file(request, path, state.settings)
        return await _transcribe_while_connected(request, state, engine, path, options)
    except AudioDecodeError as error:
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind in WRAPPED_BODIES and _looks_wrapped(path, kind):  # `curl -F`, audio in JSON
            raise AudioDecodeError(f"{error}; {WRAPPED_BODY_HINT.format(kind=kind)}") from error
        raise
    finally:
        path.unlink(missing_ok=True)


def _looks_wrapped(path: Path, kind: str) -> bool:
    """Whether the body is what its type says (a form, JSON), not audio under a type that
    `curl --data-binary` sends by default (x-www-form-urlencoded): the hint to send the file
    itself went to every broken file sent the right way, in place of the real reason."""
    if kind == "multipart/form-data":
        return True
    with path.open("rb") as body:
        start = body.read(64).lstrip()
    if kind == "application/json":
        return start[:1] in (b"{", b"[", b'"')
    return bool(start) and b"=" in start and start.isascii() and start.decode().isprintable()


async def _transcribe_while_connected(
    request: Request, state: ServingState, engine: Engine, path: Path, options: TranscribeOptions
) -> dict[str, Any]:
    """`transcribe_file` on a worker thread, told when the client has gone."""
    gone = threading.Event()
    waiting = anyio.CancelScope()  # the wait for a slot, which a client that left ends
    failure: Exception | None = None
    async with anyio.create_task_group() as watching:
        watching.start_soon(_watch_for_disconnect, request, gone, waiting)
        try:
            with waiting:
                await state.limiter.acquire()
            if waiting.cancelled_caught:  # its body would stay on disk until its turn came
                raise ClientGoneError("the client went away before its turn came")
            try:
                # A request cut off by the drain deadline leaves its thread to finish on its
                # own: the process exits right after, and the answer must not wait for it.
                result: dict[str, Any] = await anyio.to_thread.run_sync(
                    functools.partial(
                        transcribe_file,
                        engine,
                        path,
                        options,
                        state.settings.windows,
                        client_gone=gone.is_set,
                    ),
                    abandon_on_cancel=True,
                )
            finally:
                state.limiter.release()
        except Exception as error:  # raised below as it is: a task group would wrap it
            failure = error
        watching.cancel_scope.cancel()
    if failure is not None:
        raise failure
    return result


async def _watch_for_disconnect(
    request: Request, gone: threading.Event, waiting: anyio.CancelScope
) -> None:
    """Set `gone` when the client closes the connection, and end its wait for a slot: a
    client that timed out (SageMaker's InvocationTimeoutSeconds, a curl -m) would otherwise
    hold the only transcription slot for the rest of its audio, and the requests after it
    wait; one still queued kept its body on disk until its turn (30 abandoned for 10 minutes).
    Cancelling `waiting` once the slot is taken does nothing: that scope has closed."""
    while (await request.receive())["type"] != "http.disconnect":
        pass
    gone.set()
    waiting.cancel()


def _unread_body(request: Request) -> bool:
    """A body refused before it was read (a bad option in the headers): uvicorn would read
    and drop all of it, 500 MB of it, to reach the next request on the connection."""
    declared = request.headers.get("content-length", "").strip()
    sent = declared not in {"", "0"} or "transfer-encoding" in request.headers
    return sent and not details_of(request).body_complete


def closed_if_body_unread(request: Request, response: Response) -> Response:
    if _unread_body(request):
        response.headers["connection"] = "close"
    return response


def error_response(request: Request, status: int, code: str, message: str) -> Response:
    details = details_of(request)
    details.error, details.message = code, message
    response = JSONResponse({"error": code, "message": message}, status_code=status)
    return closed_if_body_unread(request, response)  # every error: a 404 to a 500 MB POST too


async def handle_error(request: Request, exc: Exception) -> Response:
    status, code = status_for(exc)
    if isinstance(exc, ClientDisconnect):
        received = details_of(request).body_bytes or 0
        log.info("client disconnected during the upload after %d bytes", received)
        message = f"the client disconnected after sending {received} bytes of the body"
    else:
        message = str(exc)  # the request log line carries it; engine failures log their own
    response = error_response(request, status, code, message)
    if isinstance(exc, CLOSES_CONNECTION):
        response.headers["connection"] = "close"
    if isinstance(exc, RETRY_LATER):
        response.headers["retry-after"] = str(RETRY_AFTER_SECONDS)
    return response


SHOWN_PATH_CHARS = 200  # a request path echoed in an error: a 20,000-character one was whole


async def handle_http_error(request: Request, exc: Exception) -> Response:
    """The router's own errors (unknown path, wrong method) in the same JSON shape."""
    assert isinstance(exc, HTTPException)  # registered for HTTPException only
    status = exc.status_code
    allowed = (exc.headers or {}).get("Allow") or (exc.headers or {}).get("allow")
    path = quoted(request.url.path, SHOWN_PATH_CHARS)
    if status == 404:
        message = f"no such path {path}; this server answers GET /ping and POST /invocations"
    elif status == 405:
        message = f"{request.method} is not allowed on {path}; use {allowed}"
    else:
        message = exc.detail
    response = error_response(request, status, CODE_BY_STATUS.get(status, "http_error"), message)
    if allowed:
        response.headers["allow"] = allowed
    return response


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    """A bug: JSON like every other answer (uvicorn still logs the traceback)."""
    return error_response(
        request, 500, "internal_error", f"unexpected server error: {type(exc).__name__}"
    )


def create_app(settings: ServerSettings, engine_loader: Callable[[], Engine]) -> Starlette:
    """The server. The model loads in a background thread so that /ping answers at once."""
    state = ServingState(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state.drain.bind(asyncio.get_running_loop())
        threading.Thread(
            target=state.load, args=(engine_loader,), name="model-loader", daemon=True
        ).start()
        yield

    handlers: dict[Any, Any] = {error_type: handle_error for error_type, _, _ in STATUS_BY_ERROR}
    handlers[HTTPException] = handle_http_error
    handlers[Exception] = handle_unexpected
    app = Starlette(
        routes=[
            Route("/ping", ping, methods=["GET"]),
            Route("/invocations", invocations, methods=["POST"]),
        ],
        middleware=[Middleware(RequestLog, endpoint=settings.endpoint_name)],
        lifespan=lifespan,
        exception_handlers=handlers,
    )
    app.router.redirect_slashes = False  # /invocations/ is a 404 in JSON, not a redirect
    app.state.serving = state  # here, not in the lifespan: main.py hands SIGTERM to its drain
    return app
