"""Domain errors of the server and the one table that maps them to HTTP status codes."""

from __future__ import annotations

from starlette.requests import ClientDisconnect

from ..attributes import OptionError, UnsupportedLanguageError
from .audio import AudioDecodeError
from .decoder_process import DecoderUnavailableError
from .windows import AudioTooLongError, ClientGoneError


class ServingError(Exception):
    pass


class EmptyBodyError(ServingError):
    pass


class ConflictingLengthsError(ServingError):
    """Both Content-Length and Transfer-Encoding: a request-smuggling shape (RFC 9112 6.3)."""


class BodyTooLargeError(ServingError):
    pass


class BodyTimeoutError(ServingError):
    pass


class NotReadyError(ServingError):
    """The model is still loading: try again in a moment."""


class ModelFailedError(ServingError):
    """The model failed to load: this server will never be ready."""


class NoSpaceError(ServingError):
    """The server's temporary folder is full: the body could not be kept."""


class OutOfFilesError(ServingError):
    """No file descriptor left for the body (too many requests at once): one of the moment."""


class EngineError(ServingError):
    pass


class ShuttingDownError(ServingError):
    """SIGTERM's drain period ended before this request finished."""


# The client went away (499 is nginx's "client closed request"; nobody receives it, but the
# request log records it).
CLIENT_CLOSED_REQUEST = 499

# Checked in order: the first matching class decides (subclasses before their bases).
STATUS_BY_ERROR: tuple[tuple[type[Exception], int, str], ...] = (
    (EmptyBodyError, 400, "empty_body"),
    (ConflictingLengthsError, 400, "bad_request"),
    (BodyTimeoutError, 408, "body_timeout"),
    (BodyTooLargeError, 413, "body_too_large"),
    (AudioTooLongError, 413, "audio_too_long"),
    (AudioDecodeError, 415, "undecodable_audio"),
    (UnsupportedLanguageError, 409, "unsupported_language"),
    (OptionError, 422, "invalid_option"),
    (ClientDisconnect, CLIENT_CLOSED_REQUEST, "client_disconnected"),
    (ClientGoneError, CLIENT_CLOSED_REQUEST, "client_gone"),
    (NotReadyError, 503, "model_not_ready"),
    (ModelFailedError, 500, "model_failed"),
    (NoSpaceError, 507, "no_space"),
    (OutOfFilesError, 503, "server_busy"),
    (DecoderUnavailableError, 503, "decoder_unavailable"),
    (ShuttingDownError, 503, "shutting_down"),
    (EngineError, 500, "engine_error"),
)

# Errors raised before the body was read to its end: the answer closes the connection, so the
# server does not go on reading (and discarding) what the client still sends.
CLOSES_CONNECTION = (
    ConflictingLengthsError,
    BodyTimeoutError,
    BodyTooLargeError,
    NoSpaceError,
    OutOfFilesError,
    ClientDisconnect,
)

# Errors of a moment, not of the request: the answer says when to try again (RFC 9110 10.2.3).
RETRY_AFTER_SECONDS = 1
RETRY_LATER = (DecoderUnavailableError, NotReadyError, OutOfFilesError)

# Errors the router raises itself, as HTTP status codes, with their codes for the JSON body.
CODE_BY_STATUS = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    408: "body_timeout",
    413: "body_too_large",
    500: "internal_error",
}


def status_for(error: Exception) -> tuple[int, str]:
    for error_type, status, code in STATUS_BY_ERROR:
        if isinstance(error, error_type):
            return status, code
    return 500, "internal_error"
