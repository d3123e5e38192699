"""The SageMaker control plane for the operations wasync (and most users) need.

Requests are validated against botocore's service model first; resources live in memory.
Endpoints are handed to a host factory: the control plane never runs containers itself.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import botocore.session

from .catalog import ApiError, Catalog, Tags, already_exists, arn, not_found
from .deployment import Deployment, check_total, deployment_from
from .hosting import EndpointHost
from .listing import ENDPOINTS_LISTED, MOST_LISTED, list_response, listed
from .validation import ValidationError, s3_location, validate

SERVICE_MODELS = botocore.session.get_session()
HostFactory = Callable[[str, Deployment], EndpointHost]


class ControlPlane:
    def __init__(self, region: str, host_factory: HostFactory) -> None:
        self.region = region
        self.host_factory = host_factory
        self.tags = Tags()
        self.models = Catalog("model", "model", "Model", region, self.tags)
        self.configs = Catalog(
            "endpoint-config", "endpoint configuration", "EndpointConfig", region, self.tags
        )
        self.endpoints: dict[str, EndpointHost] = {}
        self.endpoint_arns: dict[str, str] = {}
        self.lock = threading.RLock()
        self.service = SERVICE_MODELS.get_service_model("sagemaker")

    def call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        handler = getattr(self, f"op_{operation}", None)
        if handler is None or operation not in self.service.operation_names:
            raise ApiError(
                "UnknownOperationException", f"The local stack does not implement {operation}"
            )
        try:
            validate(self.service.operation_model(operation), params)
        except ValidationError as exc:
            raise ApiError("ValidationException", str(exc)) from None
        with self.lock:
            return dict(handler(params))

    def endpoint(self, name: str) -> EndpointHost | None:
        with self.lock:
            return self.endpoints.get(name)

    def hosts(self) -> list[EndpointHost]:
        with self.lock:
            return list(self.endpoints.values())

    # -- models and endpoint configs
    def op_CreateModel(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"ModelArn": self.models.create(p)}

    def op_DescribeModel(self, p: dict[str, Any]) -> dict[str, Any]:
        return self.models.describe(p["ModelName"])

    def op_DeleteModel(self, p: dict[str, Any]) -> dict[str, Any]:
        self.models.delete(p["ModelName"])
        return {}

    def op_ListModels(self, p: dict[str, Any]) -> dict[str, Any]:
        page = listed(self.models.summaries(), p, "ModelName", MOST_LISTED)
        return list_response("Models", page)

    def op_CreateEndpointConfig(self, p: dict[str, Any]) -> dict[str, Any]:
        for variant in p["ProductionVariants"]:
            if variant.get("ModelName") not in self.models:
                raise not_found("model", str(variant.get("ModelName")))
        output = p.get("AsyncInferenceConfig", {}).get("OutputConfig", {})
        for key in ("S3OutputPath", "S3FailurePath"):
            if key in output:
                s3_location(output[key], key, folder=True)
        return {"EndpointConfigArn": self.configs.create(p)}

    def op_DescribeEndpointConfig(self, p: dict[str, Any]) -> dict[str, Any]:
        return self.configs.describe(p["EndpointConfigName"])

    def op_DeleteEndpointConfig(self, p: dict[str, Any]) -> dict[str, Any]:
        self.configs.delete(p["EndpointConfigName"])
        return {}

    def op_ListEndpointConfigs(self, p: dict[str, Any]) -> dict[str, Any]:
        page = listed(self.configs.summaries(), p, "EndpointConfigName", MOST_LISTED)
        return list_response("EndpointConfigs", page)

    # -- endpoints
    def _deployment(self, config_name: str) -> Deployment:
        config = self.configs.get(config_name)
        model = self.models.get(config["ProductionVariants"][0]["ModelName"])
        if not config.get("AsyncInferenceConfig"):
            raise ApiError(
                "ValidationException",
                "The local stack emulates asynchronous endpoints only; add AsyncInferenceConfig",
            )
        return deployment_from(config, model)

    def _host(self, name: str) -> EndpointHost:
        host = self.endpoints.get(name)
        if host is None:
            raise not_found("endpoint", name)
        return host

    def op_CreateEndpoint(self, p: dict[str, Any]) -> dict[str, Any]:
        name = p["EndpointName"]
        endpoint_arn = arn(self.region, "endpoint", name)
        if endpoint_arn in self.endpoint_arns.values():  # names are case-insensitive: `EP1` too
            raise already_exists("endpoint", endpoint_arn)
        deployment = self._deployment(p["EndpointConfigName"])
        check_total(self.endpoints, name, deployment.instance_count)
        host = self.host_factory(name, deployment)
        self.endpoints[name], self.endpoint_arns[name] = host, endpoint_arn
        self.tags.set(endpoint_arn, p.get("Tags", []))
        host.start()
        return {"EndpointArn": endpoint_arn}

    def op_DescribeEndpoint(self, p: dict[str, Any]) -> dict[str, Any]:
        host = self._host(p["EndpointName"])
        state = host.state()  # not the config catalog's: AWS lets a config in use be deleted
        response: dict[str, Any] = {
            "EndpointName": host.name,
            "EndpointArn": self.endpoint_arns[host.name],
            "EndpointConfigName": state.config_name,
            "ProductionVariants": [
                {
                    "VariantName": state.variant_name,
                    "CurrentWeight": 1.0,
                    "DesiredWeight": 1.0,
                    "CurrentInstanceCount": state.current_instances,
                    "DesiredInstanceCount": state.desired_instances,
                }
            ],
            "EndpointStatus": state.status,
            "CreationTime": state.created,
            "LastModifiedTime": state.modified,
        }
        if state.failure_reason:
            response["FailureReason"] = state.failure_reason
        if state.async_config:
            response["AsyncInferenceConfig"] = copy.deepcopy(state.async_config)
        return response

    def op_UpdateEndpoint(self, p: dict[str, Any]) -> dict[str, Any]:
        host = self._host(p["EndpointName"])
        if host.state().status in {"Creating", "Updating", "Deleting"}:
            raise ApiError(
                "ValidationException",
                f'Cannot update in-progress endpoint "{self.endpoint_arns[host.name]}".',
            )
        deployment = self._deployment(p["EndpointConfigName"])
        excluded = {
            e.get("VariantPropertyType") for e in p.get("ExcludeRetainedVariantProperties", [])
        }
        if p.get("RetainAllVariantProperties") and "DesiredInstanceCount" not in excluded:
            # as SageMaker: the instances it runs now (autoscaling's count), not the config's
            deployment = replace(deployment, instance_count=host.state().desired_instances)
        check_total(self.endpoints, host.name, deployment.instance_count)
        host.update(deployment)
        return {"EndpointArn": self.endpoint_arns[host.name]}

    def op_UpdateEndpointWeightsAndCapacities(self, p: dict[str, Any]) -> dict[str, Any]:
        """What Application Auto Scaling calls: the variant's new DesiredInstanceCount."""
        host = self._host(p["EndpointName"])
        if host.state().status != "InService":
            raise ApiError(
                "ValidationException",
                f'Cannot update in-progress endpoint "{self.endpoint_arns[host.name]}".',
            )
        variant = host.state().variant_name
        for wanted in p["DesiredWeightsAndCapacities"]:
            if wanted["VariantName"] != variant:
                raise ApiError(
                    "ValidationException",
                    f"The variant name(s) [{wanted['VariantName']}] is/are not present in the "
                    f"endpoint {host.name}.",
                )
            if "ServerlessUpdateConfig" in wanted:
                raise ApiError("ValidationException", "The local stack runs no serverless variant")
            if "DesiredInstanceCount" in wanted:
                count = int(wanted["DesiredInstanceCount"])
                host.resize(check_total(self.endpoints, host.name, count))
        return {"EndpointArn": self.endpoint_arns[host.name]}

    def op_DeleteEndpoint(self, p: dict[str, Any]) -> dict[str, Any]:
        host = self._host(p["EndpointName"])
        del self.endpoints[host.name]
        self.tags.forget(self.endpoint_arns.pop(host.name))
        host.delete()
        return {}

    def op_ListEndpoints(self, p: dict[str, Any]) -> dict[str, Any]:
        summaries = []
        for host in self.endpoints.values():
            state = host.state()
            summaries.append(
                {
                    "EndpointName": host.name,
                    "EndpointArn": self.endpoint_arns[host.name],
                    "EndpointStatus": state.status,
                    "CreationTime": state.created,
                    "LastModifiedTime": state.modified,
                }
            )
        return list_response("Endpoints", listed(summaries, p, "EndpointName", ENDPOINTS_LISTED))

    # -- tags
    def op_ListTags(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"Tags": list(self.tags.of(p["ResourceArn"]))}

    def op_AddTags(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"Tags": self.tags.add(p["ResourceArn"], p["Tags"])}

    def op_DeleteTags(self, p: dict[str, Any]) -> dict[str, Any]:
        self.tags.delete(p["ResourceArn"], p["TagKeys"])
        return {}
