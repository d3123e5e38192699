"""AWS error codes, whichever way an error arrives: as botocore's ClientError, or as one of
wasync's AwsErrors that carries AWS's code (with botocore's error as its cause)."""

from __future__ import annotations

MISSING = frozenset({"NoSuchKey", "404", "NotFound", "NoSuchBucket"})
CONFLICT = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict", "409"})


def aws_code(exc: BaseException | None) -> str | None:
    """AWS's error code for an exception, else None."""
    seen = 0
    while exc is not None and seen < 3:
        code = getattr(exc, "code", None)
        if isinstance(code, str) and code:
            return code
        response = getattr(exc, "response", None)
        if isinstance(response, dict):
            found = str(response.get("Error", {}).get("Code", ""))
            if found:
                return found
        exc, seen = exc.__cause__, seen + 1
    return None


def botocore_error(exc: BaseException) -> BaseException:
    """The botocore exception behind a translated one (or the exception itself)."""
    seen = 0
    while (
        exc.__cause__ is not None and seen < 3 and not type(exc).__module__.startswith("botocore")
    ):
        exc, seen = exc.__cause__, seen + 1
    return exc
