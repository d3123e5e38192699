"""What an endpoint config says to run, read from the emulator's CreateModel and
CreateEndpointConfig requests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Deployment:
    """The model's image, data, environment, instances and async settings."""

    config_name: str
    model_name: str
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
