"""The AWS boundary: the one place where botocore's errors become wasync's.

Every client `Clients.client()` hands out is a `BoundaryClient`. Its calls raise the typed
errors of `errors.py` (NotFoundError, AlreadyExistsError, ThrottledError, AccessDeniedError,
AwsError), never botocore's, so the capabilities catch what they mean ("not found") instead of
inspecting error codes. `find()` turns "not found" into None. botocore is imported only when a
client is made or an error is translated, so commands that need no AWS start fast.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from .errors import (
    AccessDeniedError,
    AlreadyExistsError,
    AwsError,
    ConfigurationError,
    NotFoundError,
    ThrottledError,
    WasyncError,
)

# Adaptive mode: standard retries (exponential backoff with jitter) plus a client-side rate
# limiter that slows this client down while AWS throttles it.
MAX_ATTEMPTS = 10
CONNECT_TIMEOUT = 10


@functools.cache  # the service model is a JSON file read from disk
def member_range(service: str, shape: str, member: str) -> tuple[int, int]:
    """A request member's (min, max) from botocore's service model, so that a bound checked
    before any call follows AWS's."""
    import botocore.session

    model = botocore.session.get_session().get_service_model(service)
    structure: Any = model.shape_for(shape)  # a StructureShape: it has members
    metadata = structure.members[member].metadata
    return int(metadata["min"]), int(metadata["max"])


def retry_config() -> Any:
    from botocore.config import Config

    return Config(
        retries={"mode": "adaptive", "max_attempts": MAX_ATTEMPTS},
        connect_timeout=CONNECT_TIMEOUT,
    )


@dataclass(frozen=True)
class Match:
    """An AWS error code, and where AWS uses one code for several faults, text its message holds."""

    code: str
    message: str | None = None

    def matches(self, code: str, message: str) -> bool:
        return code == self.code and (self.message is None or self.message in message)


# What each service answers when the thing named does not exist (per service, because the same
# code means different things elsewhere: SageMaker says ValidationException for a missing
# endpoint, and also for a bad parameter).
NOT_FOUND: Mapping[str, tuple[Match, ...]] = {
    "s3": (Match("404"), Match("NoSuchKey"), Match("NoSuchBucket"), Match("NotFound")),
    "sagemaker": (Match("ValidationException", "Could not find"), Match("ResourceNotFound")),
    "sagemaker-runtime": (Match("ValidationError", "not found"),),
    "application-autoscaling": (Match("ObjectNotFoundException"),),
    "cloudwatch": (Match("ResourceNotFound"), Match("ResourceNotFoundException")),
    "logs": (Match("ResourceNotFoundException"),),
    "ecr": (Match("RepositoryNotFoundException"), Match("ImageNotFoundException")),
    "iam": (Match("NoSuchEntity"),),
    "sns": (Match("NotFound"), Match("NotFoundException")),
    "sqs": (Match("AWS.SimpleQueueService.NonExistentQueue"), Match("QueueDoesNotExist")),
}

ALREADY_EXISTS: Mapping[str, tuple[Match, ...]] = {
    "s3": (Match("BucketAlreadyOwnedByYou"), Match("BucketAlreadyExists")),
    "sagemaker": (Match("ValidationException", "already existing"),),
    "ecr": (Match("RepositoryAlreadyExistsException"),),
    "iam": (Match("EntityAlreadyExists"),),
}

# The codes botocore's retry logic treats as throttling (botocore.retries.standard); a test
# keeps this list a superset of botocore's.
THROTTLED = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)

ACCESS_DENIED = frozenset(
    {"AccessDenied", "AccessDeniedException", "AuthorizationError", "UnauthorizedOperation"}
)

_HINTS_BY_CODE = {
    "ExpiredToken": "refresh your credentials, e.g. `aws sso login`",
    "ExpiredTokenException": "refresh your credentials, e.g. `aws sso login`",
    "InvalidClientTokenId": "check AWS_ACCESS_KEY_ID or the profile you selected",
    "UnrecognizedClientException": "check AWS_ACCESS_KEY_ID or the profile you selected",
    "SignatureDoesNotMatch": "check AWS_SECRET_ACCESS_KEY or the profile you selected",
    "ResourceLimitExceeded": "request a quota increase in Service Quotas, or pick another instance type",
}


# A bucket name S3 takes today (a few old us-east-1 buckets have others: those are only named,
# not refused, when S3 says a bucket does not exist)
BUCKET_NAME = re.compile(r"(?!xn--)[a-z0-9](?!.*\.\.)[a-z0-9.-]{1,61}[a-z0-9]")


# AWS lists every allowed value: for an instance type, 6 KB on one line
_ENUM_SET = re.compile(
    r"Value '([^']*)' at '[^']*' failed to satisfy constraint: Member must satisfy enum value set: \[([^\]]*)\]"
)
MOST_ENUM_VALUES = 8


def shortened(message: str) -> str:
    """An AWS message with each long list of allowed values cut to those closest to the value
    given (`ml.g5.xlarge2`: ml.g5.xlarge, ...)."""

    def cut(match: re.Match[str]) -> str:
        allowed = [value.strip().strip("'\"") for value in match.group(2).split(",")]
        if len(allowed) <= MOST_ENUM_VALUES:
            return match.group(0)
        close = difflib.get_close_matches(match.group(1), allowed, n=3, cutoff=0.6)
        kept = close or allowed[:3]
        return (
            f"{match.group(0).split(': Member', 1)[0]}: it is none of the {len(allowed)} values "
            f"allowed ({'closest' if close else 'e.g.'}: {', '.join(kept)})"
        )

    return _ENUM_SET.sub(cut, message)


def _is(table: Mapping[str, tuple[Match, ...]], service: str | None, code: str, text: str) -> bool:
    return any(m.matches(code, text) for m in table.get(service or "", ()))


def from_client_error(exc: Any, service: str | None = None) -> AwsError:
    """A botocore ClientError as the typed error it stands for."""
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    message = shortened(str(error.get("Message", "")).strip()) or code
    operation = getattr(exc, "operation_name", None) or "the request"
    where = {"code": code, "operation": operation}
    if code == "NoSuchBucket":
        bucket = error.get("BucketName")
        misnamed = (
            f" ({bucket!r} breaks S3's naming rules: 3-63 lowercase letters, digits, dots and "
            "hyphens)"
            if bucket and not BUCKET_NAME.fullmatch(bucket)
            else ""
        )
        return NotFoundError(
            f"{operation}: the bucket {bucket + ' ' if bucket else ''}does not exist{misnamed}.",
            "`push-model` and `deploy` create the bucket they use; check --bucket or "
            "WASYNC_BUCKET, and the region",
            **where,
        )
    if _is(NOT_FOUND, service, code, message):
        return NotFoundError(f"{operation}: {message}", **where)
    if _is(ALREADY_EXISTS, service, code, message):
        return AlreadyExistsError(f"{operation}: {message}", **where)
    if code in THROTTLED:
        return ThrottledError(
            f"AWS kept throttling {operation} ({code}) through every retry.",
            "wait a moment and re-run, or lower --concurrency",
            **where,
        )
    if code in ACCESS_DENIED:
        return AccessDeniedError(
            f"Access denied for {operation}: {message}",
            "grant the missing permission named above; `wasync iam` prints the policy wasync needs",
            **where,
        )
    return AwsError(f"{operation} failed ({code}): {message}", _HINTS_BY_CODE.get(code), **where)


def translate(exc: BaseException, service: str | None = None) -> WasyncError | None:
    """A botocore or boto3 exception as a WasyncError; None if it is neither."""
    if isinstance(exc, WasyncError):
        return exc
    from boto3 import exceptions as boto3_errors
    from botocore import exceptions as bce

    if isinstance(exc, bce.ClientError):
        return from_client_error(exc, service)
    if isinstance(exc, bce.NoCredentialsError | bce.PartialCredentialsError):
        return ConfigurationError(
            "No AWS credentials found.",
            "run `aws configure` or `aws sso login`, set AWS_PROFILE, or use `--local` "
            "for the offline stack",
        )
    if isinstance(exc, bce.NoRegionError):
        return no_region()
    if isinstance(exc, bce.ProfileNotFound):
        return ConfigurationError(str(exc), "check --aws-profile / WASYNC_AWS_PROFILE")
    if isinstance(exc, bce.EndpointConnectionError | bce.ConnectTimeoutError):
        return AwsError(
            f"Could not reach {exc.kwargs.get('endpoint_url', 'AWS')}.",
            "check the network, the region, or start the local stack with `wasync local up`",
        )
    if isinstance(exc, bce.BotoCoreError | boto3_errors.Boto3Error):
        return AwsError(str(exc))
    return None


def no_region() -> ConfigurationError:
    # a shell without `wasync local env` looked like AWS with no region, and the stack it ran
    # went unmentioned
    return ConfigurationError(
        "No AWS region set.",
        "pass --region, or set WASYNC_REGION or AWS_REGION; for the offline stack, pass --local "
        'or run eval "$(wasync local env)"',
    )


def never_sent(exc: BaseException) -> bool:
    """Did this failed call certainly not reach the service? True for a connection that was
    never made, a request botocore refused to build, or an answer in the 4xx range: the
    request was refused, not half-done. Callers that must not repeat a non-idempotent call
    (transcribe's InvokeEndpointAsync) ask this before treating it as not done."""
    from botocore import exceptions as bce

    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, bce.BotoCoreError | bce.ClientError):
        cause = cause.__cause__
    if isinstance(cause, bce.ConnectionError | bce.ParamValidationError):
        return True
    if isinstance(cause, bce.ClientError):
        status = cause.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 400
        return int(status) < 500
    return False


T = TypeVar("T")


def call(fn: Callable[..., T], service: str | None, *args: Any, **kwargs: Any) -> T:
    """Run one botocore call; its errors leave as wasync's."""
    try:
        return fn(*args, **kwargs)
    except Exception as exc:
        error = translate(exc, service)
        if error is None or error is exc:
            raise
        raise error from exc


def find(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
    """The call's response, or None when what it names does not exist."""
    try:
        return fn(*args, **kwargs)
    except NotFoundError:
        return None


class BoundaryPaginator:
    """A paginator whose pages raise wasync's errors."""

    def __init__(self, paginator: Any, service: str) -> None:
        self._paginator = paginator
        self._service = service

    def paginate(self, **params: Any) -> Iterator[dict[str, Any]]:
        pages = call(self._paginator.paginate, self._service, **params)
        iterator = iter(pages)
        while True:
            try:
                page = call(next, self._service, iterator)
            except StopIteration:
                return
            yield page


class BoundaryClient:
    """A boto3 client whose calls raise wasync's errors; everything else passes through
    (`meta`, so botocore's Stubber and event hooks work on it as on the client itself)."""

    _PASS_THROUGH = frozenset({"meta", "exceptions", "can_paginate", "get_waiter"})

    def __init__(self, client: Any, service: str) -> None:
        self._client = client
        self._service = service

    @property
    def service(self) -> str:
        return self._service

    def get_paginator(self, operation: str) -> BoundaryPaginator:
        return BoundaryPaginator(self._client.get_paginator(operation), self._service)

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name in self._PASS_THROUGH or name.startswith("_") or not callable(attribute):
            return attribute

        def bounded(*args: Any, **kwargs: Any) -> Any:
            return call(attribute, self._service, *args, **kwargs)

        bounded.__name__ = name
        return bounded
