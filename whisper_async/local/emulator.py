"""The SageMaker emulator: the control plane (JSON 1.1) and InvokeEndpointAsync (REST-JSON).

Requests are validated against botocore's service model; errors use AWS's shapes, so boto3
and the AWS CLI behave as they do against AWS. Signatures are not checked: bind to loopback.
"""

from __future__ import annotations

import copy
import json
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import botocore.session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..storage import S3Uri
from .hosting import Deployment, EndpointHost, Factory, Job, deployment_from
from .profile import LOCAL_ACCOUNT as ACCOUNT
from .validation import ValidationError, validate

_SERVICE_MODELS = botocore.session.get_session()


class ApiError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def _arn(region: str, kind: str, name: str) -> str:
    return f"arn:aws:sagemaker:{region}:{ACCOUNT}:{kind}/{name.lower()}"


class ControlPlane:
    """SageMaker's resources for the operations wasync (and most users) need."""

    def __init__(self, region: str, host_factory: Factory) -> None:
        self.region = region
        self.host_factory = host_factory
        self.models: dict[str, dict[str, Any]] = {}
        self.configs: dict[str, dict[str, Any]] = {}
        self.endpoints: dict[str, EndpointHost] = {}
        self.endpoint_arns: dict[str, str] = {}
        self.tags: dict[str, list[dict[str, str]]] = {}
        self.lock = threading.RLock()
        self.model = _SERVICE_MODELS.get_service_model("sagemaker")

    def call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        try:
            operation_model = self.model.operation_model(operation)
        except Exception:
            raise ApiError(
                "UnknownOperationException", f"The local stack does not implement {operation}"
            ) from None
        handler = getattr(self, f"op_{operation}", None)
        if handler is None:
            raise ApiError(
                "UnknownOperationException", f"The local stack does not implement {operation}"
            )
        try:
            validate(operation_model, params)
        except ValidationError as exc:
            raise ApiError("ValidationException", str(exc)) from None
        with self.lock:
            return dict(handler(params))

    def _not_found(self, kind: str, name: str) -> ApiError:
        return ApiError("ValidationException", f'Could not find {kind} "{name}".')

    def _exists(self, kind: str, arn: str) -> ApiError:
        return ApiError("ValidationException", f'Cannot create already existing {kind} "{arn}".')

    # -- models
    def op_CreateModel(self, p: dict[str, Any]) -> dict[str, Any]:
        name = p["ModelName"]
        arn = _arn(self.region, "model", name)
        if name in self.models:
            raise self._exists("model", arn)
        self.models[name] = {**p, "ModelArn": arn, "CreationTime": time.time()}
        self.models[name].pop("Tags", None)
        self.tags[arn] = list(p.get("Tags", []))
        return {"ModelArn": arn}

    def op_DescribeModel(self, p: dict[str, Any]) -> dict[str, Any]:
        model = self.models.get(p["ModelName"])
        if model is None:
            raise self._not_found("model", p["ModelName"])
        return copy.deepcopy(model)

    def op_DeleteModel(self, p: dict[str, Any]) -> dict[str, Any]:
        model = self.models.pop(p["ModelName"], None)
        if model is None:
            raise self._not_found("model", p["ModelName"])
        self.tags.pop(model["ModelArn"], None)
        return {}

    def op_ListModels(self, p: dict[str, Any]) -> dict[str, Any]:
        items = [m for m in self.models.values() if p.get("NameContains", "") in m["ModelName"]]
        return {
            "Models": [
                {
                    "ModelName": m["ModelName"],
                    "ModelArn": m["ModelArn"],
                    "CreationTime": m["CreationTime"],
                }
                for m in items
            ]
        }

    # -- endpoint configs
    def op_CreateEndpointConfig(self, p: dict[str, Any]) -> dict[str, Any]:
        name = p["EndpointConfigName"]
        arn = _arn(self.region, "endpoint-config", name)
        if name in self.configs:
            raise self._exists("endpoint configuration", arn)
        for variant in p["ProductionVariants"]:
            if variant.get("ModelName") not in self.models:
                raise self._not_found("model", str(variant.get("ModelName")))
        output = p.get("AsyncInferenceConfig", {}).get("OutputConfig", {})
        for key in ("S3OutputPath", "S3FailurePath"):
            if key in output:
                S3Uri.parse(output[key].rstrip("/") + "/x")
        self.configs[name] = {**p, "EndpointConfigArn": arn, "CreationTime": time.time()}
        self.configs[name].pop("Tags", None)
        self.tags[arn] = list(p.get("Tags", []))
        return {"EndpointConfigArn": arn}

    def op_DescribeEndpointConfig(self, p: dict[str, Any]) -> dict[str, Any]:
        config = self.configs.get(p["EndpointConfigName"])
        if config is None:
            raise self._not_found("endpoint configuration", p["EndpointConfigName"])
        return copy.deepcopy(config)

    def op_DeleteEndpointConfig(self, p: dict[str, Any]) -> dict[str, Any]:
        config = self.configs.pop(p["EndpointConfigName"], None)
        if config is None:
            raise self._not_found("endpoint configuration", p["EndpointConfigName"])
        self.tags.pop(config["EndpointConfigArn"], None)
        return {}

    def op_ListEndpointConfigs(self, p: dict[str, Any]) -> dict[str, Any]:
        items = sorted(
            (
                c
                for c in self.configs.values()
                if p.get("NameContains", "") in c["EndpointConfigName"]
            ),
            key=lambda c: c["CreationTime"],
            reverse=True,
        )
        return {
            "EndpointConfigs": [
                {
                    "EndpointConfigName": c["EndpointConfigName"],
                    "EndpointConfigArn": c["EndpointConfigArn"],
                    "CreationTime": c["CreationTime"],
                }
                for c in items
            ]
        }

    # -- endpoints
    def _deployment(self, config_name: str) -> Deployment:
        config = self.configs.get(config_name)
        if config is None:
            raise self._not_found("endpoint configuration", config_name)
        model = self.models.get(config["ProductionVariants"][0]["ModelName"])
        if model is None:
            raise self._not_found("model", config["ProductionVariants"][0]["ModelName"])
        if not config.get("AsyncInferenceConfig"):
            raise ApiError(
                "ValidationException",
                "The local stack emulates asynchronous endpoints only; add AsyncInferenceConfig",
            )
        return deployment_from(config, model)

    def op_CreateEndpoint(self, p: dict[str, Any]) -> dict[str, Any]:
        name = p["EndpointName"]
        arn = _arn(self.region, "endpoint", name)
        if name in self.endpoints:
            raise self._exists("endpoint", arn)
        host = self.host_factory(name, self._deployment(p["EndpointConfigName"]))
        self.endpoints[name] = host
        self.endpoint_arns[name] = arn
        self.tags[arn] = list(p.get("Tags", []))
        host.start()
        return {"EndpointArn": arn}

    def _host(self, name: str) -> EndpointHost:
        host = self.endpoints.get(name)
        if host is None:
            raise self._not_found("endpoint", name)
        return host

    def op_DescribeEndpoint(self, p: dict[str, Any]) -> dict[str, Any]:
        host = self._host(p["EndpointName"])
        config = self.configs.get(host.deployment.config_name, {})
        instances = 1 if host.healthy.is_set() else 0
        response: dict[str, Any] = {
            "EndpointName": host.name,
            "EndpointArn": self.endpoint_arns[host.name],
            "EndpointConfigName": host.deployment.config_name,
            "ProductionVariants": [
                {
                    "VariantName": config.get("ProductionVariants", [{}])[0].get(
                        "VariantName", "AllTraffic"
                    ),
                    "CurrentWeight": 1.0,
                    "DesiredWeight": 1.0,
                    "CurrentInstanceCount": instances,
                    "DesiredInstanceCount": 1,
                }
            ],
            "EndpointStatus": host.status,
            "CreationTime": host.created,
            "LastModifiedTime": host.modified,
        }
        if host.failure_reason:
            response["FailureReason"] = host.failure_reason
        if config.get("AsyncInferenceConfig"):
            response["AsyncInferenceConfig"] = copy.deepcopy(config["AsyncInferenceConfig"])
        return response

    def op_UpdateEndpoint(self, p: dict[str, Any]) -> dict[str, Any]:
        host = self._host(p["EndpointName"])
        if host.status in {"Creating", "Updating", "Deleting"}:
            raise ApiError(
                "ValidationException",
                f'Cannot update in-progress endpoint "{self.endpoint_arns[host.name]}".',
            )
        host.update(self._deployment(p["EndpointConfigName"]))
        return {"EndpointArn": self.endpoint_arns[host.name]}

    def op_DeleteEndpoint(self, p: dict[str, Any]) -> dict[str, Any]:
        host = self._host(p["EndpointName"])
        host.status = "Deleting"
        del self.endpoints[host.name]
        self.tags.pop(self.endpoint_arns.pop(host.name), None)
        threading.Thread(target=host.close, daemon=True).start()
        return {}

    def op_ListEndpoints(self, p: dict[str, Any]) -> dict[str, Any]:
        return {
            "Endpoints": [
                {
                    "EndpointName": h.name,
                    "EndpointArn": self.endpoint_arns[h.name],
                    "EndpointStatus": h.status,
                    "CreationTime": h.created,
                    "LastModifiedTime": h.modified,
                }
                for h in self.endpoints.values()
                if p.get("NameContains", "") in h.name
            ]
        }

    # -- tags
    def _tagged(self, arn: str) -> list[dict[str, str]]:
        if arn not in self.tags:
            raise ApiError("ValidationException", f'Could not find resource "{arn}".')
        return self.tags[arn]

    def op_ListTags(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"Tags": list(self._tagged(p["ResourceArn"]))}

    def op_AddTags(self, p: dict[str, Any]) -> dict[str, Any]:
        tags = self._tagged(p["ResourceArn"])
        keys = {t["Key"] for t in p["Tags"]}
        tags[:] = [t for t in tags if t["Key"] not in keys] + list(p["Tags"])
        return {"Tags": list(tags)}

    def op_DeleteTags(self, p: dict[str, Any]) -> dict[str, Any]:
        tags = self._tagged(p["ResourceArn"])
        tags[:] = [t for t in tags if t["Key"] not in set(p["TagKeys"])]
        return {}


def _json_error(error: ApiError) -> Response:
    return JSONResponse(
        {"__type": error.code, "message": error.message},
        status_code=error.status,
        headers={"x-amzn-ErrorType": error.code},
        media_type="application/x-amz-json-1.1",
    )


def create_emulator(plane: ControlPlane, spool: Path) -> Starlette:
    runtime_model = _SERVICE_MODELS.get_service_model("sagemaker-runtime").operation_model(
        "InvokeEndpointAsync"
    )

    async def control(request: Request) -> Response:
        target = request.headers.get("x-amz-target", "")
        if not target.startswith("SageMaker."):
            return _json_error(ApiError("UnknownOperationException", f"unknown target {target!r}"))
        try:
            params = json.loads(await request.body() or b"{}")
            result = plane.call(target.split(".", 1)[1], params)
        except ApiError as error:
            return _json_error(error)
        except ValueError as exc:
            return _json_error(ApiError("ValidationException", str(exc)))
        return JSONResponse(result, media_type="application/x-amz-json-1.1")

    async def invoke_async(request: Request) -> Response:
        name = request.path_params["name"]
        headers = request.headers
        body = await request.body()
        params: dict[str, Any] = {"EndpointName": name}
        assert runtime_model.input_shape is not None
        for member, shape in runtime_model.input_shape.members.items():
            header = str(shape.serialization.get("name", ""))
            if shape.serialization.get("location") == "header" and header in headers:
                value = headers[header]
                params[member] = (
                    int(value)
                    if shape.type_name == "integer" and value.lstrip("-").isdigit()
                    else value
                )
        if body:
            params["Body"] = body
        try:
            validate(runtime_model, params)
            if "InputLocation" not in params and not body:
                raise ValidationError("Either InputLocation or a Body is required")
            if "InputLocation" in params:
                S3Uri.parse(params["InputLocation"])
        except (ValidationError, ValueError) as exc:
            return JSONResponse(
                {"message": str(exc)},
                status_code=400,
                headers={"x-amzn-ErrorType": "ValidationError"},
            )
        host = plane.endpoints.get(name)
        if host is None or not host.accepting:
            message = (
                f"Endpoint {name} of account {ACCOUNT} not found."
                if host is None
                else "The local stack is shutting down"
            )
            return JSONResponse(
                {"message": message},
                status_code=400,
                headers={"x-amzn-ErrorType": "ValidationError"},
            )
        inference_id = params.get("InferenceId") or str(uuid.uuid4())
        file_name = params.get("Filename") or str(uuid.uuid4())
        extension = params.get("S3OutputPathExtension", "").strip("/")

        def location(base: str, suffix: str) -> str:
            base = base if base.endswith("/") else base + "/"
            return f"{base}{extension + '/' if extension else ''}{file_name}{suffix}"

        body_path = None
        if body:
            handle = tempfile.NamedTemporaryFile(prefix="inline-", dir=spool, delete=False)  # noqa: SIM115 - closed here, removed by the worker
            handle.write(body)
            handle.close()
            body_path = Path(handle.name)
        job = Job(
            inference_id=inference_id,
            endpoint=name,
            content_type=params.get("ContentType"),
            accept=params.get("Accept"),
            custom_attributes=params.get("CustomAttributes"),
            input_location=params.get("InputLocation"),
            body_path=body_path,
            output_location=location(host.deployment.output_path, ".out"),
            failure_location=location(host.deployment.failure_path, "-error.out"),
            ttl_seconds=int(params.get("RequestTTLSeconds", 21600)),
            invocation_timeout=int(params.get("InvocationTimeoutSeconds", 900)),
        )
        host.enqueue(job)
        return JSONResponse(
            {"InferenceId": inference_id},
            status_code=202,
            headers={
                "X-Amzn-SageMaker-OutputLocation": job.output_location,
                "X-Amzn-SageMaker-FailureLocation": job.failure_location,
            },
        )

    async def local_status(request: Request) -> Response:
        return JSONResponse({"endpoints": [h.describe() for h in list(plane.endpoints.values())]})

    spool.mkdir(parents=True, exist_ok=True)
    return Starlette(
        routes=[
            Route("/", control, methods=["POST"]),
            Route("/endpoints/{name}/async-invocations", invoke_async, methods=["POST"]),
            Route("/_wasync/status", local_status, methods=["GET"]),
        ]
    )
