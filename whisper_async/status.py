"""status: the endpoint, its instances, model, image, autoscaling and queue, in one report."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from . import capacity, scaling
from .clients import Clients
from .resources import find_endpoint_config, find_model, require_endpoint, variant_name
from .settings import time_scale


@dataclass(frozen=True)
class EndpointStatus:
    endpoint: str
    status: str
    variant: str
    failure_reason: str | None
    instance_type: str | None
    current_instances: int | None
    desired_instances: int | None
    model_name: str | None
    model_data: str | None
    image: str | None
    config_name: str | None
    output_path: str | None
    failure_path: str | None
    max_concurrency: int | None
    # the container's WASYNC_* settings that deploy sets (encoder, compute type, defaults)
    settings: dict[str, str]
    notifications: bool
    autoscaling: scaling.ScalingState | None
    backlog: float | None
    backlog_at: dt.datetime | None  # the time of CloudWatch's datapoint: it can be minutes old
    oldest_request_age_seconds: float | None
    oldest_request_at: dt.datetime | None
    created: dt.datetime | None
    modified: dt.datetime | None
    capacity: capacity.CapacityReport
    time_scale: float  # AWS seconds per second: 1, or the local stack's --time-scale


# set by deploy for every endpoint, shown elsewhere (the name, the concurrency)
_SHOWN_ELSEWHERE = {"WASYNC_ENDPOINT_NAME", "WASYNC_MAX_CONCURRENCY"}


def serving_settings(environment: dict[str, str]) -> dict[str, str]:
    """Only wasync's own variables: a model made by hand may carry others, secrets among them."""
    return {
        name: value
        for name, value in sorted(environment.items())
        if name.startswith("WASYNC_") and name not in _SHOWN_ELSEWHERE
    }


def endpoint_status(clients: Clients) -> EndpointStatus:
    endpoint = clients.settings.endpoint
    described = require_endpoint(
        clients, endpoint, "deploy it with `wasync deploy`, or pass --endpoint"
    )
    variant = variant_name(described)
    live: dict[str, Any] = next(
        (v for v in described.get("ProductionVariants") or [] if v.get("VariantName") == variant),
        {},
    )
    config = find_endpoint_config(clients, described["EndpointConfigName"]) or {}
    configured: dict[str, Any] = next(
        (v for v in config.get("ProductionVariants") or [] if v.get("VariantName") == variant),
        {},
    )
    model_name = configured.get("ModelName")
    model = find_model(clients, model_name) if model_name else None
    container: dict[str, Any] = (model or {}).get("PrimaryContainer") or {}
    async_config = described.get("AsyncInferenceConfig") or config.get("AsyncInferenceConfig") or {}
    output = async_config.get("OutputConfig", {})
    scale = time_scale(clients.settings)
    autoscaling = scaling.current(clients, endpoint, variant)
    created = described.get("CreationTime")
    backlog = capacity.latest_point(clients, endpoint, "ApproximateBacklogSize", scale, created)
    oldest = capacity.latest_point(
        clients, endpoint, "ApproximateAgeOfOldestRequest", scale, created
    )
    return EndpointStatus(
        endpoint=endpoint,
        status=described["EndpointStatus"],
        variant=variant,
        failure_reason=described.get("FailureReason"),
        instance_type=configured.get("InstanceType"),
        current_instances=live.get("CurrentInstanceCount"),
        desired_instances=live.get("DesiredInstanceCount"),
        model_name=model_name,
        model_data=container.get("ModelDataUrl"),
        image=container.get("Image"),
        config_name=described["EndpointConfigName"],
        output_path=output.get("S3OutputPath"),
        failure_path=output.get("S3FailurePath"),
        max_concurrency=async_config.get("ClientConfig", {}).get(
            "MaxConcurrentInvocationsPerInstance"
        ),
        settings=serving_settings(container.get("Environment") or {}),
        notifications="NotificationConfig" in output,
        autoscaling=autoscaling,
        backlog=float(backlog["Average"]) if backlog else None,
        backlog_at=backlog["Timestamp"] if backlog else None,
        oldest_request_age_seconds=float(oldest["Average"]) if oldest else None,
        oldest_request_at=oldest["Timestamp"] if oldest else None,
        created=created,
        modified=described.get("LastModifiedTime"),
        capacity=capacity.report(
            clients, endpoint, variant, autoscaling is not None, scale, created
        ),
        time_scale=scale,
    )
