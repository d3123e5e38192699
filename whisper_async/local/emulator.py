"""The SageMaker emulator's HTTP side: the control plane over JSON 1.1 and
InvokeEndpointAsync over REST-JSON, on loopback.

Requests are validated against botocore's service model; errors use AWS's shapes, so boto3
and the AWS CLI behave as they do against AWS. Signatures are not checked: bind to loopback.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ..digits import whole_number
from .catalog import ApiError
from .control import SERVICE_MODELS, ControlPlane
from .hosting import describe
from .jobqueue import job_for
from .motoserver import web_page_refusal
from .profile import LOCAL_ACCOUNT
from .throttle import Throttles
from .validation import ValidationError, s3_location, validate

# isdigit() passes "²" and 5,000 digits, which int() refuses
INTEGER = re.compile(r"-?[0-9]{1,12}\Z")
MOST_CONTROL_BYTES = 1 << 20  # a control call's JSON: the largest the CLI sends is a few KiB
MOST_SWITCH_BYTES = 1024  # the throttle switch's {"fraction": 0.3}


def _not_json(constant: str) -> Any:
    """NaN and Infinity, which Python's JSON reader takes: a NaN weight was stored, and every
    DescribeEndpointConfig after it failed to write its answer (a 500)."""
    raise ValueError(f"{constant} is not a JSON value")


async def bounded_body(request: Request, most: int) -> bytes | None:
    """The request's body, or None once it is over `most` bytes: read no further, so that a
    400 MB POST costs the daemon nothing (a whole read held it in memory)."""
    declared = whole_number(request.headers.get("content-length", ""))
    if declared is not None and declared > most:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > most:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def utf8_header(value: str) -> str:
    """A header as botocore sent it: UTF-8 (an S3 key `my talk é.wav`), which Starlette reads
    as latin-1; bytes that are not UTF-8 stay as read."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


def _too_long(what: str, most: int) -> str:
    return (
        f"1 validation error detected: Value at '{what}' failed to satisfy constraint: "
        f"Member must have length less than or equal to {most}"
    )


def _json_error(error: ApiError) -> Response:
    return JSONResponse(
        {"__type": error.code, "message": error.message},
        status_code=error.status,
        headers={"x-amzn-ErrorType": error.code},
        media_type="application/x-amz-json-1.1",
    )


def _validation_error(message: str) -> Response:
    """InvokeEndpointAsync's error shape (REST-JSON: the code is in a header)."""
    return JSONResponse(
        {"message": message}, status_code=400, headers={"x-amzn-ErrorType": "ValidationError"}
    )


def _throttling_error() -> Response:
    """What SageMaker answers a client that calls too fast; botocore retries it as throttling."""
    return JSONResponse(
        {"message": "Rate exceeded"},
        status_code=400,
        headers={"x-amzn-ErrorType": "ThrottlingException"},
    )


class RefuseWebPages:
    """403 for a request with an Origin header, or for a Host that does not name this machine,
    as the moto server's guard answers (local/motoserver.py): a web page could otherwise queue
    bodies for the user's endpoints with a "simple" cross-site POST, or read the stack's state
    under a name of its own pointed at 127.0.0.1."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            host = headers.get(b"host", b"").decode("latin-1")
            reason = web_page_refusal(b"origin" in headers, host)
            if reason:
                await PlainTextResponse(reason, status_code=403)(scope, receive, send)
                return
        await self.app(scope, receive, send)


SIGNED_REGION = re.compile(r"Credential=[^/,\s]*/[^/,\s]*/([^/,\s]*)/")


class RefuseOtherRegions:
    """AWS's answer to a request signed for another region: the stack serves one region (its
    scaler and alarms run there), and an endpoint made with `--region eu-west-1` looked served
    while nothing ever scaled it."""

    def __init__(self, app: ASGIApp, region: str) -> None:
        self.app = app
        self.region = region

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            authorization = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
            signed = SIGNED_REGION.search(authorization)
            if signed and signed.group(1) != self.region:
                message = (
                    f"Credential should be scoped to a valid region, not '{signed.group(1)}': "
                    f"this local stack serves {self.region} only (set AWS_REGION={self.region}, "
                    'or run eval "$(wasync local env)")'
                )
                code = "InvalidSignatureException"
                answer = JSONResponse(
                    {"__type": code, "message": message},
                    status_code=403,
                    headers={"x-amzn-ErrorType": code},
                )
                await answer(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_emulator(plane: ControlPlane, spool: Path) -> Starlette:
    throttles = Throttles()
    runtime_model = SERVICE_MODELS.get_service_model("sagemaker-runtime").operation_model(
        "InvokeEndpointAsync"
    )
    assert runtime_model.input_shape is not None
    body_limit = int(runtime_model.input_shape.members["Body"].metadata["max"])

    async def control(request: Request) -> Response:
        target = request.headers.get("x-amz-target", "")
        if not target.startswith("SageMaker."):
            return _json_error(ApiError("UnknownOperationException", f"unknown target {target!r}"))
        raw = await bounded_body(request, MOST_CONTROL_BYTES)
        if raw is None:
            return _json_error(
                ApiError("ValidationException", _too_long("body", MOST_CONTROL_BYTES))
            )
        try:
            params = json.loads(raw or b"{}", parse_constant=_not_json)
            result = plane.call(target.split(".", 1)[1], params)
        except ApiError as error:
            return _json_error(error)
        except ValueError as exc:
            return _json_error(ApiError("ValidationException", str(exc)))
        except RecursionError:  # json.loads of [[[[...
            return _json_error(ApiError("ValidationException", "the request body nests too deeply"))
        return JSONResponse(result, media_type="application/x-amz-json-1.1")

    async def invoke_async(request: Request) -> Response:
        name = request.path_params["name"]
        headers = request.headers
        body = await bounded_body(request, body_limit)
        if body is None:
            return _validation_error(_too_long("body", body_limit))
        params: dict[str, Any] = {"EndpointName": name}
        assert runtime_model.input_shape is not None
        for member, shape in runtime_model.input_shape.members.items():
            header = str(shape.serialization.get("name", ""))
            if shape.serialization.get("location") == "header" and header in headers:
                value = utf8_header(headers[header])
                params[member] = (
                    int(value) if shape.type_name == "integer" and INTEGER.match(value) else value
                )  # anything else stays text, which validation refuses by its type
        if body:
            params["Body"] = body
        try:
            validate(runtime_model, params)
            if "InputLocation" not in params and not body:
                raise ValidationError("Either InputLocation or a Body is required")
            if "InputLocation" in params:
                s3_location(params["InputLocation"], "InputLocation")
        except (ValidationError, ValueError) as exc:
            return _validation_error(str(exc))
        host = plane.endpoint(name)
        if host is None:
            return _validation_error(f"Endpoint {name} of account {LOCAL_ACCOUNT} not found.")
        if throttles.refuse(name):
            return _throttling_error()
        body_path = None
        if body:
            handle = tempfile.NamedTemporaryFile(prefix="inline-", dir=spool, delete=False)  # noqa: SIM115 - closed here, removed once the job ends
            handle.write(body)
            handle.close()
            body_path = Path(handle.name)
        job = job_for(name, params, host.deployment, body_path)
        if not host.accept(job):
            if body_path:
                body_path.unlink()
            return _validation_error(f"Endpoint {name} is being deleted or the stack is stopping.")
        throttles.accepted(name)
        return JSONResponse(
            {"InferenceId": job.inference_id},
            status_code=202,
            headers={
                "X-Amzn-SageMaker-OutputLocation": job.output_location,
                "X-Amzn-SageMaker-FailureLocation": job.failure_location,
            },
        )

    async def local_status(request: Request) -> Response:
        endpoints = [{**describe(host), **throttles.describe(host.name)} for host in plane.hosts()]
        return JSONResponse({"endpoints": endpoints})

    async def set_throttle(request: Request) -> Response:
        """The test switch (throttle.py): PUT {"fraction": 0.3}."""
        name = request.path_params["name"]
        if plane.endpoint(name) is None:
            return _validation_error(f"Endpoint {name} of account {LOCAL_ACCOUNT} not found.")
        raw = await bounded_body(request, MOST_SWITCH_BYTES)  # a whole read held 1.5 GB
        if raw is None:
            return _validation_error(_too_long("body", MOST_SWITCH_BYTES))
        try:
            fraction = float(json.loads(raw)["fraction"])
            throttles.set(name, fraction)
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            return _validation_error(f'expected {{"fraction": 0 to 0.99}}: {exc}')
        return JSONResponse({"endpoint": name, **throttles.describe(name)})

    spool.mkdir(parents=True, exist_ok=True)
    return Starlette(
        middleware=[Middleware(RefuseWebPages), Middleware(RefuseOtherRegions, plane.region)],
        routes=[
            Route("/", control, methods=["POST"]),
            Route("/endpoints/{name}/async-invocations", invoke_async, methods=["POST"]),
            Route("/_wasync/status", local_status, methods=["GET"]),
            Route("/_wasync/endpoints/{name}/throttle", set_throttle, methods=["PUT"]),
        ],
    )
