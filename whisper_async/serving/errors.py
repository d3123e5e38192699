"""Domain errors of the server and the one table that maps them to HTTP status codes."""

from __future__ import annotations

from ..attributes import OptionError, UnsupportedLanguageError
from .audio import AudioDecodeError


class ServingError(Exception):
    code = "serving_error"


class EmptyBodyError(ServingError):
    code = "empty_body"


class BodyTooLargeError(ServingError):
    code = "body_too_large"


class NotReadyError(ServingError):
    code = "model_not_ready"


class EngineError(ServingError):
    code = "engine_error"


# Checked in order: the first matching class decides (subclasses before their bases).
STATUS_BY_ERROR: tuple[tuple[type[Exception], int, str], ...] = (
    (EmptyBodyError, 400, "empty_body"),
    (BodyTooLargeError, 413, "body_too_large"),
    (AudioDecodeError, 415, "undecodable_audio"),
    (UnsupportedLanguageError, 409, "unsupported_language"),
    (OptionError, 422, "invalid_option"),
    (NotReadyError, 503, "model_not_ready"),
    (EngineError, 500, "engine_error"),
)


def status_for(error: Exception) -> tuple[int, str]:
    for error_type, status, code in STATUS_BY_ERROR:
        if isinstance(error, error_type):
            return status, code
    return 500, "internal_error"
