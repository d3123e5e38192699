"""The error hierarchy: every failure a user can cause or meet, with an exit code and a hint."""

from __future__ import annotations

from enum import IntEnum


def quoted(value: str, most: int = 80) -> str:
    """A value for a message, repr-quoted and cut at `most` characters: values from archives
    and S3 objects may be any length."""
    return repr(value if len(value) <= most else value[:most] + "...")


class ExitCode(IntEnum):
    OK = 0
    FAILURE = 1
    USAGE = 2
    TIMEOUT = 3
    INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl-C


class WasyncError(Exception):
    """A failure with a one-line message and, where we know one, what to do about it."""

    exit_code: ExitCode = ExitCode.FAILURE

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"


class UsageError(WasyncError):
    exit_code = ExitCode.USAGE


class ConfigurationError(WasyncError):
    exit_code = ExitCode.USAGE


class WaitTimeoutError(WasyncError):
    exit_code = ExitCode.TIMEOUT


class DeploymentFailedError(WasyncError):
    pass


class AwsError(WasyncError):
    """An AWS call failed. `code` and `operation` are AWS's, when the failure came from AWS."""

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        *,
        code: str | None = None,
        operation: str | None = None,
    ) -> None:
        super().__init__(message, hint)
        self.code = code
        self.operation = operation


class NotFoundError(AwsError):
    """A resource, object or job that was named does not exist."""


class AlreadyExistsError(AwsError):
    """A create call met a resource of the same name."""


class ThrottledError(AwsError):
    """AWS kept throttling after the adaptive retries gave up."""


class AccessDeniedError(AwsError):
    """The credentials lack a permission; `wasync iam` prints what wasync needs."""
