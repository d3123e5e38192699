"""The error hierarchy: every failure a user can cause or meet, with an exit code and a hint."""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    OK = 0
    FAILURE = 1
    USAGE = 2
    TIMEOUT = 3


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


class NotFoundError(WasyncError):
    pass


class ConfigurationError(WasyncError):
    exit_code = ExitCode.USAGE


class WaitTimeoutError(WasyncError):
    exit_code = ExitCode.TIMEOUT


class DeploymentFailedError(WasyncError):
    pass


class AwsError(WasyncError):
    pass


_HINTS_BY_CODE = {
    "ExpiredToken": "refresh your credentials, e.g. `aws sso login`",
    "ExpiredTokenException": "refresh your credentials, e.g. `aws sso login`",
    "InvalidClientTokenId": "check AWS_ACCESS_KEY_ID or the profile you selected",
    "UnrecognizedClientException": "check AWS_ACCESS_KEY_ID or the profile you selected",
    "SignatureDoesNotMatch": "check AWS_SECRET_ACCESS_KEY or the profile you selected",
    "ThrottlingException": "AWS is throttling requests; wait a moment and re-run",
    "ResourceLimitExceeded": "request a quota increase in Service Quotas, or pick another instance type",
}


def translate(exc: BaseException) -> WasyncError | None:
    """Turn a botocore exception into a WasyncError, or None if it is not one we know."""
    from botocore import exceptions as bce

    if isinstance(exc, WasyncError):
        return exc
    if isinstance(exc, bce.NoCredentialsError | bce.PartialCredentialsError):
        return ConfigurationError(
            "No AWS credentials found.",
            "run `aws configure` or `aws sso login`, set AWS_PROFILE, or use `--local` "
            "for the offline stack",
        )
    if isinstance(exc, bce.NoRegionError):
        return ConfigurationError(
            "No AWS region set.", "pass --region, set WASYNC_REGION or AWS_REGION"
        )
    if isinstance(exc, bce.ProfileNotFound):
        return ConfigurationError(str(exc), "check --profile / WASYNC_AWS_PROFILE")
    if isinstance(exc, bce.EndpointConnectionError):
        return AwsError(
            f"Could not reach {exc.kwargs.get('endpoint_url', 'AWS')}.",
            "check the network, the region, or start the local stack with `wasync local up`",
        )
    if isinstance(exc, bce.ClientError):
        return from_client_error(exc)
    return None


def from_client_error(exc: Any) -> WasyncError:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    message = str(error.get("Message", "")).strip() or code
    operation = getattr(exc, "operation_name", "the request")
    if code in {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}:
        return AwsError(
            f"Access denied for {operation}: {message}",
            "grant the missing permission named above; `wasync iam` prints the policy wasync needs",
        )
    return AwsError(f"{operation} failed ({code}): {message}", _HINTS_BY_CODE.get(code))


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a ClientError, else None."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", "")) or None
    return None
