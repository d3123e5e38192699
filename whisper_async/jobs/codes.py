"""AWS error codes, whichever way an error arrives: as one of wasync's AwsErrors (aws.py's
boundary), which carries AWS's code, or as a raw ClientError (a test's stubbed client)."""

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
