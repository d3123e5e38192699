"""status: the endpoint, its instances, model, image, autoscaling and queue, in one report."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from . import capacity, scaling
from .clients import Clients
from .endpoint import describe
from .errors import NotFoundError
from .settings import time_scale


@dataclass(frozen=True)
class EndpointStatus:
    endpoint: str
    status: str
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
    notifications: bool
    autoscaling: dict[str, Any] | None
    backlog: float | None
    oldest_request_age_seconds: float | None
    created: dt.datetime | None
    modified: dt.datetime | None
    capacity: capacity.CapacityReport
    time_scale: float  # AWS seconds per second: 1, or the local stack's --time-scale


def latest_metric(clients: Clients, endpoint: str, metric: str, scale: float = 1.0) -> float | None:
    """The metric's latest one-minute value (a minute of the stack's clock, locally)."""
    period = max(1, round(60 / scale))
    now = dt.datetime.now(dt.timezone.utc)
    points = (
        clients.client("cloudwatch")
        .get_metric_statistics(
            Namespace="AWS/SageMaker",
            MetricName=metric,
            Dimensions=[{"Name": "EndpointName", "Value": endpoint}],
            StartTime=now - dt.timedelta(seconds=10 * period),
            EndTime=now,
            Period=period,
            Statistics=["Average"],
        )
        .get("Datapoints", [])
    )
    if not points:
        return None
    return float(max(points, key=lambda p: p["Timestamp"])["Average"])


def endpoint_status(clients: Clients) -> EndpointStatus:
    endpoint = clients.settings.endpoint
    described = describe(clients, endpoint)
    if described is None:
        raise NotFoundError(
            f"Endpoint {endpoint} does not exist.",
            "deploy it with `wasync deploy`, or pass --endpoint",
        )
    sagemaker = clients.client("sagemaker")
    variant = (described.get("ProductionVariants") or [{}])[0]
    config = sagemaker.describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])
    config_variant = (config.get("ProductionVariants") or [{}])[0]
    model_name = config_variant.get("ModelName")
    container: dict[str, Any] = {}
    if model_name:
        container = sagemaker.describe_model(ModelName=model_name).get("PrimaryContainer", {})
    async_config = described.get("AsyncInferenceConfig") or config.get("AsyncInferenceConfig") or {}
    output = async_config.get("OutputConfig", {})
    scale = time_scale(clients.settings)
    autoscaling = scaling.current(clients, endpoint)
    variant_name = variant.get("VariantName", "AllTraffic")
    return EndpointStatus(
        endpoint=endpoint,
        status=described["EndpointStatus"],
        failure_reason=described.get("FailureReason"),
        instance_type=config_variant.get("InstanceType"),
        current_instances=variant.get("CurrentInstanceCount"),
        desired_instances=variant.get("DesiredInstanceCount"),
        model_name=model_name,
        model_data=container.get("ModelDataUrl"),
        image=container.get("Image"),
        config_name=described["EndpointConfigName"],
        output_path=output.get("S3OutputPath"),
        failure_path=output.get("S3FailurePath"),
        max_concurrency=async_config.get("ClientConfig", {}).get(
            "MaxConcurrentInvocationsPerInstance"
        ),
        notifications="NotificationConfig" in output,
        autoscaling=autoscaling,
        backlog=latest_metric(clients, endpoint, "ApproximateBacklogSize", scale),
        oldest_request_age_seconds=latest_metric(
            clients, endpoint, "ApproximateAgeOfOldestRequest", scale
        ),
        created=described.get("CreationTime"),
        modified=described.get("LastModifiedTime"),
        capacity=capacity.report(clients, endpoint, variant_name, autoscaling is not None, scale),
        time_scale=scale,
    )
