"""Reading wasync's SageMaker resources, and cleaning up the configs and models it made.

Shared by deploy, autoscale, status, delete and transcribe. Not-found is None (`aws.find`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import aws, naming
from .clients import Clients
from .errors import NotFoundError
from .plan import Plan, Step, deleted_names, execute


def find_endpoint(clients: Clients, endpoint: str) -> dict[str, Any] | None:
    """DescribeEndpoint, or None when there is no such endpoint."""
    found = aws.find(clients.client("sagemaker").describe_endpoint, EndpointName=endpoint)
    return None if found is None else dict(found)


def require_endpoint(clients: Clients, endpoint: str, hint: str) -> dict[str, Any]:
    described = find_endpoint(clients, endpoint)
    if described is None:
        raise NotFoundError(f"Endpoint {endpoint} does not exist.", hint)
    return described


def variant_name(described: Mapping[str, Any]) -> str:
    """The endpoint's (first) production variant, as DescribeEndpoint names it."""
    variants = described.get("ProductionVariants") or [{}]
    return str(variants[0].get("VariantName") or naming.VARIANT)


def meant_instances(described: Mapping[str, Any]) -> int | None:
    """The instances an endpoint's (first) variant is meant to run: DesiredInstanceCount, where
    autoscaling or a scale to zero moved it, else CurrentInstanceCount."""
    variants = described.get("ProductionVariants") or [{}]
    meant = variants[0].get("DesiredInstanceCount", variants[0].get("CurrentInstanceCount"))
    return None if meant is None else int(meant)


def find_endpoint_config(clients: Clients, name: str) -> dict[str, Any] | None:
    found = aws.find(clients.client("sagemaker").describe_endpoint_config, EndpointConfigName=name)
    return None if found is None else dict(found)


def find_model(clients: Clients, name: str) -> dict[str, Any] | None:
    found = aws.find(clients.client("sagemaker").describe_model, ModelName=name)
    return None if found is None else dict(found)


def _tag_value(clients: Clients, arn: str, key: str) -> str | None:
    tags = clients.client("sagemaker").list_tags(ResourceArn=arn).get("Tags", [])
    return next((t["Value"] for t in tags if t["Key"] == key), None)


def config_cleanup_plan(clients: Clients, config_name: str) -> Plan:
    """Delete one wasync-managed endpoint config and its models; nothing that is not ours."""
    config = find_endpoint_config(clients, config_name)
    if config is None or _tag_value(clients, config["EndpointConfigArn"], "managed-by") != "wasync":
        return Plan()
    steps = [
        Step(
            "sagemaker",
            "delete_endpoint_config",
            {"EndpointConfigName": config_name},
            f"delete endpoint-config/{config_name}",
            missing_ok=True,
        )
    ]
    steps += [_delete_model(model) for model in _models_of(config)]
    return Plan(tuple(steps))


def _models_of(config: Mapping[str, Any]) -> list[str]:
    return [v["ModelName"] for v in config.get("ProductionVariants", []) if v.get("ModelName")]


def _delete_model(model: str) -> Step:
    return Step(
        "sagemaker", "delete_model", {"ModelName": model}, f"delete model/{model}", missing_ok=True
    )


def delete_config_and_models(clients: Clients, config_name: str) -> list[str]:
    plan = config_cleanup_plan(clients, config_name)
    execute(clients, plan)
    return list(deleted_names(plan.steps))


def delete_deploy_leftovers(clients: Clients, config_name: str, model_name: str) -> None:
    """The config and model one deploy created before SageMaker refused a later step of it
    (a misspelt instance type is refused only by CreateEndpointConfig)."""
    config = config_cleanup_plan(clients, config_name).steps
    model = (
        ()
        if any(s.params.get("ModelName") == model_name for s in config)
        else (_delete_model(model_name),)
    )
    execute(clients, Plan((*config, *model)))


def managed_config_names(clients: Clients, endpoint: str) -> list[str]:
    """Endpoint configs wasync created for this endpoint (by name and tag)."""
    sagemaker = clients.client("sagemaker")
    names: list[str] = []
    paginator = sagemaker.get_paginator("list_endpoint_configs")
    for page in paginator.paginate(NameContains=f"{endpoint[:38]}-"):
        for config in page.get("EndpointConfigs", []):
            if _tag_value(clients, config["EndpointConfigArn"], "wasync-endpoint") == endpoint:
                names.append(config["EndpointConfigName"])
    return names


def orphan_models_plan(clients: Clients, endpoint: str, excluding: set[str]) -> Plan:
    """Delete the models wasync created for this endpoint (by name and tag) but those in
    `excluding` (kept, or deleted with their config): a deploy interrupted between CreateModel and
    CreateEndpointConfig leaves one, which no config's clean-up finds."""
    sagemaker = clients.client("sagemaker")
    steps = []
    for page in sagemaker.get_paginator("list_models").paginate(NameContains=f"{endpoint[:38]}-"):
        for model in page.get("Models", []):
            name = model["ModelName"]
            ours = _tag_value(clients, model["ModelArn"], "wasync-endpoint") == endpoint
            if ours and name not in excluding:
                steps.append(_delete_model(name))
    return Plan(tuple(steps))


def remove_superseded(clients: Clients, endpoint: str, keep: str | None) -> tuple[str, ...]:
    removed: list[str] = []
    for name in managed_config_names(clients, endpoint):
        if name != keep:
            removed += delete_config_and_models(clients, name)
    kept = find_endpoint_config(clients, keep) if keep else None
    kept_models = set(_models_of(kept)) if kept else set()
    orphans = orphan_models_plan(clients, endpoint, kept_models)
    execute(clients, orphans)
    return (*removed, *deleted_names(orphans.steps))
