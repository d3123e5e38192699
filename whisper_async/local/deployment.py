"""What an endpoint config says to run, read from the emulator's CreateModel and
CreateEndpointConfig requests."""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..digits import whole_number
from .catalog import ApiError

# Each instance is a serving process on this machine: a count of 10,000 forked until memory ran
# out. SageMaker holds every account to per-type quotas too (ResourceLimitExceeded).
MAX_INSTANCES_ENV = "WASYNC_LOCAL_MAX_INSTANCES"
DEFAULT_MAX_INSTANCES = 8


@dataclass(frozen=True)
class Deployment:
    """The model's image, data, environment, instances and async settings."""

    config_name: str
    model_name: str
    variant_name: str
    async_config: dict[str, Any]  # as the config gave it: DescribeEndpoint shows it
    image: str
    model_data: str
    environment: dict[str, str]
    instance_count: int
    max_concurrency: int
    startup_timeout: int
    output_path: str
    failure_path: str
    success_topic: str | None
    error_topic: str | None


def deployment_from(config: dict[str, Any], model: dict[str, Any]) -> Deployment:
    variant = config["ProductionVariants"][0]
    async_config = config.get("AsyncInferenceConfig") or {}
    output = async_config.get("OutputConfig", {})
    notify = output.get("NotificationConfig", {})
    container = model.get("PrimaryContainer") or (model.get("Containers") or [{}])[0]
    return Deployment(
        config_name=config["EndpointConfigName"],
        model_name=variant["ModelName"],
        variant_name=variant["VariantName"],
        async_config=copy.deepcopy(async_config),
        image=container.get("Image", ""),
        model_data=container.get("ModelDataUrl", ""),
        environment=dict(container.get("Environment", {})),
        instance_count=int(variant.get("InitialInstanceCount", 1)),
        max_concurrency=int(
            async_config.get("ClientConfig", {}).get("MaxConcurrentInvocationsPerInstance", 1)
        ),
        startup_timeout=int(variant.get("ContainerStartupHealthCheckTimeoutInSeconds", 600)),
        output_path=output.get("S3OutputPath", ""),
        failure_path=output.get("S3FailurePath", output.get("S3OutputPath", "")),
        success_topic=notify.get("SuccessTopic"),
        error_topic=notify.get("ErrorTopic"),
    )


def max_instances(environ: Mapping[str, str] = os.environ) -> int:
    """The most instances the stack runs, over all its endpoints: WASYNC_LOCAL_MAX_INSTANCES,
    else 8 (ValueError for a setting that is no whole number from 1)."""
    raw = environ.get(MAX_INSTANCES_ENV)
    if not raw:
        return DEFAULT_MAX_INSTANCES
    most = whole_number(raw.strip())
    if not most:
        raise ValueError(f"{MAX_INSTANCES_ENV}={raw!r} is not a whole number from 1")
    return most


def check_total(hosts: Mapping[str, Any], name: str, count: int) -> int:
    """`count`, once allowed: the stack's limit holds over all its endpoints (`hosts`, by
    name), as an AWS account's quota does, so `count` instances for endpoint `name` beside
    what the others ask for."""
    others = sum(h.state().desired_instances for n, h in hosts.items() if n != name)
    check_instances(count, others, f"endpoint {name}")
    return count


def check_instances(count: int, others: int, what: str) -> None:
    """ResourceLimitExceeded for more instances than the stack runs in all: `count` for
    `what` beside `others` that other endpoints ask for."""
    most = max_instances()
    if count + others > most:
        beside = f", beside {others} for other endpoints," if others else ""
        raise ApiError(
            "ResourceLimitExceeded",
            f"{count} instances for {what}{beside} are over the local stack's limit of "
            f"{most} in all: each runs as a process on this machine; delete an endpoint you "
            f"no longer use, or raise {MAX_INSTANCES_ENV} before `wasync local up`",
        )
