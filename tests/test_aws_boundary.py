"""The AWS boundary: each service's not-found codes (botocore's Stubber), the typed errors,
adaptive retries against a throttling server, and the rule that no other module imports
botocore's exceptions."""

from __future__ import annotations

import ast
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.config import Config
from botocore.stub import Stubber

from whisper_async import aws
from whisper_async.clients import Clients
from whisper_async.errors import (
    AccessDeniedError,
    AlreadyExistsError,
    AwsError,
    ExitCode,
    NotFoundError,
    ThrottledError,
)
from whisper_async.settings import resolve

PACKAGE = Path(__file__).resolve().parents[1] / "whisper_async"

# (service, method, params, error code, message): what each service answers for a missing thing.
NOT_FOUND_CASES = [
    ("s3", "head_object", {"Bucket": "b", "Key": "k"}, "404", "Not Found"),
    ("s3", "get_object", {"Bucket": "b", "Key": "k"}, "NoSuchKey", "The key does not exist"),
    ("s3", "head_bucket", {"Bucket": "b"}, "NoSuchBucket", "The bucket does not exist"),
    (
        "sagemaker",
        "describe_endpoint",
        {"EndpointName": "e"},
        "ValidationException",
        "Could not find endpoint 'arn:aws:sagemaker:us-east-1:123456789012:endpoint/e'.",
    ),
    (
        "sagemaker",
        "describe_endpoint_config",
        {"EndpointConfigName": "c"},
        "ValidationException",
        "Could not find endpoint configuration 'c'.",
    ),
    (
        "sagemaker",
        "delete_model",
        {"ModelName": "m"},
        "ValidationException",
        "Could not find model",
    ),
    (
        "sagemaker-runtime",
        "invoke_endpoint_async",
        {"EndpointName": "e", "InputLocation": "s3://b/k"},
        "ValidationError",
        "Endpoint e of account 123456789012 not found.",
    ),
    (
        "application-autoscaling",
        "deregister_scalable_target",
        {
            "ServiceNamespace": "sagemaker",
            "ResourceId": "endpoint/e/variant/v",
            "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
        },
        "ObjectNotFoundException",
        "No scalable target registered",
    ),
    ("cloudwatch", "delete_alarms", {"AlarmNames": ["a"]}, "ResourceNotFound", "no such alarm"),
    (
        "logs",
        "filter_log_events",
        {"logGroupName": "g"},
        "ResourceNotFoundException",
        "The specified log group does not exist.",
    ),
    (
        "ecr",
        "describe_repositories",
        {"repositoryNames": ["wasync"]},
        "RepositoryNotFoundException",
        "The repository does not exist",
    ),
    (
        "ecr",
        "describe_images",
        {"repositoryName": "wasync", "imageIds": [{"imageTag": "t"}]},
        "ImageNotFoundException",
        "The image does not exist",
    ),
    ("iam", "get_role", {"RoleName": "r"}, "NoSuchEntity", "Role r not found"),
    (
        "sns",
        "get_topic_attributes",
        {"TopicArn": "arn:aws:sns:us-east-1:123456789012:t"},
        "NotFound",
        "Topic does not exist",
    ),
    (
        "sqs",
        "get_queue_attributes",
        {"QueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/q"},
        "AWS.SimpleQueueService.NonExistentQueue",
        "The specified queue does not exist.",
    ),
]


@pytest.fixture
def clients(aws_env: Path) -> Clients:
    return Clients(resolve({"region": "us-east-1"}))


def test_every_service_wasync_calls_has_a_not_found_table() -> None:
    from whisper_async.settings import SERVICES

    assert set(SERVICES) - {"sts"} <= set(aws.NOT_FOUND)
    assert {case[0] for case in NOT_FOUND_CASES} == set(aws.NOT_FOUND)


@pytest.mark.parametrize(
    ("service", "method", "params", "code", "message"),
    NOT_FOUND_CASES,
    ids=[f"{c[0]}-{c[1]}-{c[3]}" for c in NOT_FOUND_CASES],
)
def test_not_found_is_none_from_find_and_not_found_error_from_a_call(
    clients: Clients, service: str, method: str, params: dict, code: str, message: str
) -> None:
    client = clients.client(service)
    with Stubber(client) as stub:
        stub.add_client_error(method, code, message, 404 if code == "404" else 400)
        stub.add_client_error(method, code, message, 404 if code == "404" else 400)
        assert aws.find(getattr(client, method), **params) is None
        with pytest.raises(NotFoundError) as info:
            getattr(client, method)(**params)
    assert info.value.code == code and info.value.exit_code == ExitCode.FAILURE


@pytest.mark.parametrize(
    ("service", "method", "params", "code", "message"),
    [
        # SageMaker's ValidationException is "not found" only when it says so.
        (
            "sagemaker",
            "describe_endpoint",
            {"EndpointName": "e"},
            "ValidationException",
            "1 validation error detected: Value 'e!' at 'endpointName' failed to satisfy constraint",
        ),
        # Application Auto Scaling's ValidationException is a bad request, never "gone".
        (
            "application-autoscaling",
            "delete_scaling_policy",
            {
                "PolicyName": "p",
                "ServiceNamespace": "sagemaker",
                "ResourceId": "endpoint/e/variant/v",
                "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
            },
            "ValidationException",
            "Unsupported service namespace",
        ),
        # A code that means "not found" in one service does not in another.
        ("sns", "publish", {"TopicArn": "t", "Message": "m"}, "ResourceNotFound", "x"),
    ],
)
def test_other_errors_are_not_mistaken_for_not_found(
    clients: Clients, service: str, method: str, params: dict, code: str, message: str
) -> None:
    client = clients.client(service)
    with Stubber(client) as stub:
        stub.add_client_error(method, code, message, 400)
        with pytest.raises(AwsError) as info:
            aws.find(getattr(client, method), **params)
    assert not isinstance(info.value, NotFoundError)
    assert code in info.value.message and message in info.value.message


@pytest.mark.parametrize(
    ("service", "method", "params", "code", "error"),
    [
        (
            "iam",
            "create_role",
            {"RoleName": "r", "AssumeRolePolicyDocument": "{}"},
            "EntityAlreadyExists",
            AlreadyExistsError,
        ),
        (
            "ecr",
            "create_repository",
            {"repositoryName": "wasync"},
            "RepositoryAlreadyExistsException",
            AlreadyExistsError,
        ),
        ("s3", "create_bucket", {"Bucket": "b"}, "BucketAlreadyOwnedByYou", AlreadyExistsError),
        ("sagemaker", "list_endpoints", {}, "ThrottlingException", ThrottledError),
        ("s3", "head_bucket", {"Bucket": "b"}, "SlowDown", ThrottledError),
        (
            "sagemaker",
            "create_endpoint",
            {"EndpointName": "e", "EndpointConfigName": "c"},
            "AccessDeniedException",
            AccessDeniedError,
        ),
        ("sns", "create_topic", {"Name": "t"}, "AuthorizationError", AccessDeniedError),
    ],
)
def test_typed_errors_carry_code_operation_and_hint(
    clients: Clients, service: str, method: str, params: dict, code: str, error: type
) -> None:
    client = clients.client(service)
    with Stubber(client) as stub:
        stub.add_client_error(method, code, "message from AWS", 400)
        with pytest.raises(error) as info:
            getattr(client, method)(**params)
    assert info.value.code == code
    assert info.value.operation == client.meta.method_to_api_mapping[method]
    if error is AccessDeniedError:
        assert "wasync iam" in (info.value.hint or "")
    if error is ThrottledError:
        assert "re-run" in (info.value.hint or "")


def test_paginated_calls_raise_wasyncs_errors_too(clients: Clients) -> None:
    client = clients.client("logs")
    with Stubber(client) as stub:
        stub.add_client_error("filter_log_events", "ResourceNotFoundException", "no group", 400)
        pages = client.get_paginator("filter_log_events").paginate(logGroupName="g")
        with pytest.raises(NotFoundError):
            list(pages)


def test_throttle_codes_cover_botocores_own_list() -> None:
    from botocore.retries.standard import ThrottledRetryableChecker

    assert set(ThrottledRetryableChecker._THROTTLED_ERROR_CODES) <= aws.THROTTLED


class _Throttling(http.server.BaseHTTPRequestHandler):
    """STS on 127.0.0.1 that throttles the first `throttle` requests, then answers."""

    throttle = 2
    seen = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).seen += 1
        if type(self).seen <= type(self).throttle:
            body = (
                b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
                b"<Message>Rate exceeded</Message></Error><RequestId>1</RequestId></ErrorResponse>"
            )
            status = 400
        else:
            body = (
                b'<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
                b"<GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/t</Arn>"
                b"<UserId>AID</UserId><Account>123456789012</Account></GetCallerIdentityResult>"
                b"<ResponseMetadata><RequestId>2</RequestId></ResponseMetadata>"
                b"</GetCallerIdentityResponse>"
            )
            status = 200
        self.send_response(status)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def throttling_sts() -> Iterator[str]:
    _Throttling.seen = 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Throttling)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_throttled_calls_are_retried_adaptively_until_they_succeed(
    aws_env: Path, throttling_sts: str
) -> None:
    clients = Clients(resolve({"region": "us-east-1"}, {"WASYNC_ENDPOINT_URL_STS": throttling_sts}))
    sts = clients.client("sts")
    assert sts.meta.config.retries["mode"] == "adaptive"
    assert clients.account_id == "123456789012"
    assert _Throttling.seen == 3


def test_a_throttled_call_the_retries_cannot_save_is_a_throttled_error(
    aws_env: Path, throttling_sts: str
) -> None:
    _Throttling.throttle = 10**6
    try:
        clients = Clients(
            resolve({"region": "us-east-1"}, {"WASYNC_ENDPOINT_URL_STS": throttling_sts})
        )
        # Fewer attempts than wasync's own, so the test does not wait out the full backoff.
        raw = clients.session.client(
            "sts",
            region_name="us-east-1",
            endpoint_url=throttling_sts,
            config=Config(retries={"mode": "adaptive", "max_attempts": 2}),
        )
        with pytest.raises(ThrottledError, match="throttling GetCallerIdentity"):
            aws.BoundaryClient(raw, "sts").get_caller_identity()
        assert _Throttling.seen >= 2  # retried before giving up
    finally:
        _Throttling.throttle = 2


def _imports(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def test_no_module_outside_the_boundary_imports_botocores_exceptions() -> None:
    offenders = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "aws.py":
            continue
        bad = [
            name
            for name in _imports(path)
            if name.startswith(("botocore.exceptions", "boto3.exceptions"))
            or name.endswith(".ClientError")
        ]
        if bad:
            offenders[str(path.relative_to(PACKAGE))] = bad
    assert offenders == {}


def test_the_boundary_itself_is_checked_by_the_rule() -> None:
    """The rule reads real imports: aws.py (which may) is found by it."""
    assert any(name.startswith("botocore") for name in _imports(PACKAGE / "aws.py"))


def test_a_missing_bucket_is_named_with_what_to_check(moto_clients) -> None:  # type: ignore[no-untyped-def]
    s3 = moto_clients.client("s3")
    with pytest.raises(NotFoundError) as info:
        s3.put_object(Bucket="nope-bucket", Key="k", Body=b"x")
    assert "PutObject: the bucket nope-bucket does not exist." in info.value.message
    assert info.value.hint is not None and "--bucket" in info.value.hint
