"""deploy, status and delete: the SageMaker model, endpoint config and async endpoint."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import image_capabilities, naming, state, storage
from .attributes import OptionError, parse_value
from .clients import Clients
from .errors import (
    DeploymentFailedError,
    NotFoundError,
    UsageError,
    WaitTimeoutError,
    error_code,
)
from .polling import Backoff

ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
ECR_IMAGE = re.compile(
    r"^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/([^:@]+)(?::([\w.-]+))?(?:@(sha256:[0-9a-f]{64}))?$"
)
LOCAL_ROLE = "arn:aws:iam::123456789012:role/wasync-local"
LOCAL_IMAGE = "wasync-local/process-runtime:latest"
KNOWN_INSTANCE_FAMILIES = (
    "ml.g4dn.",
    "ml.g5.",
    "ml.g6.",
    "ml.g6e.",
    "ml.p3.",
    "ml.p4d.",
    "ml.p5.",
    "ml.c5.",
    "ml.c6i.",
    "ml.c7i.",
    "ml.m5.",
    "ml.m6i.",
    "ml.m7i.",
    "ml.r5.",
    "ml.inf2.",
)
KNOWN_SIZES = (
    "large",
    "xlarge",
    "2xlarge",
    "4xlarge",
    "8xlarge",
    "12xlarge",
    "16xlarge",
    "24xlarge",
    "48xlarge",
)
DEPLOY_BACKOFF = Backoff(first=1.0, factor=1.5, cap=15.0)
IN_PROGRESS = {"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"}


@dataclass(frozen=True)
class DeployRequest:
    instance_type: str
    model_uri: str | None = None  # None or "last": what push-model uploaded last
    image_uri: str | None = None  # None or "last": what build pushed last
    role_arn: str | None = None
    max_concurrency: int = 1
    initial_count: int = 1
    notify: bool = False
    startup_timeout: int = 1800
    download_timeout: int = 1800
    compute_type: str | None = None
    default_language: str | None = None
    default_batch_size: int | None = None
    environment: Mapping[str, str] = field(default_factory=dict)


def request_defaults(request: DeployRequest) -> dict[str, str]:
    """The container's WASYNC_DEFAULT_* variables, checked here: a bad one would only surface
    as a container that never turns healthy."""
    defaults = {"language": request.default_language, "batch_size": request.default_batch_size}
    environment = {}
    for name, value in defaults.items():
        if value is None:
            continue
        try:
            parse_value(name, str(value))
        except OptionError as exc:
            raise UsageError(f"--{name.replace('_', '-')}: {exc}") from None
        environment[f"WASYNC_DEFAULT_{name.upper()}"] = str(value)
    return environment


@dataclass(frozen=True)
class ApiCall:
    operation: str
    params: dict[str, Any]


@dataclass(frozen=True)
class DeployPlan:
    endpoint: str
    action: str  # "create" or "update"
    model_name: str
    config_name: str
    model_uri: str
    image_uri: str
    calls: tuple[ApiCall, ...]
    previous_config: str | None = None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class EndpointState:
    name: str
    status: str
    failure_reason: str | None
    config_name: str | None


@dataclass(frozen=True)
class DeployResult:
    endpoint: str
    action: str
    status: str
    model_name: str
    config_name: str
    model_uri: str
    image_uri: str
    removed: tuple[str, ...] = ()


def check_instance_type(instance_type: str) -> str | None:
    """A warning for an unknown type (new types appear often, so never block)."""
    if not instance_type.startswith("ml."):
        raise UsageError(
            f"instance type {instance_type!r} must start with 'ml.'", "e.g. --instance ml.g5.xlarge"
        )
    if (
        instance_type.startswith(KNOWN_INSTANCE_FAMILIES)
        and instance_type.rsplit(".", 1)[-1] in KNOWN_SIZES
    ):
        return None
    return f"{instance_type} is not an instance type wasync knows; deploying anyway"


def _resolve(clients: Clients, value: str | None, key: str) -> str | None:
    if value in {None, "last"}:
        return state.recall(clients.settings, clients.region, key)
    return value


def resolve_inputs(clients: Clients, request: DeployRequest) -> tuple[str, str, str]:
    """The model URI, image URI and role ARN, validated before any change is made."""
    settings = clients.settings
    model_uri = _resolve(clients, request.model_uri, "model_uri")
    if not model_uri:
        raise UsageError(
            "No model to deploy.", "run `wasync push-model ...` first, or pass --model s3://..."
        )
    image_uri = _resolve(clients, request.image_uri or settings.image_uri, "image_uri")
    role_arn = (
        request.role_arn or settings.role_arn or state.recall(settings, clients.region, "role_arn")
    )
    if settings.is_local:
        image_uri = image_uri or LOCAL_IMAGE
        role_arn = role_arn or LOCAL_ROLE
    if not image_uri:
        raise UsageError("No serving image.", "run `wasync build` first, or pass --image URI")
    if not role_arn:
        raise UsageError(
            "No SageMaker execution role.",
            "pass --role ARN or set WASYNC_ROLE_ARN; `wasync iam --create` makes one",
        )
    if not ROLE_ARN.match(role_arn):
        raise UsageError(
            f"{role_arn!r} is not an IAM role ARN", "expected arn:aws:iam::123456789012:role/NAME"
        )
    uri = storage.S3Uri.parse(model_uri)
    model = storage.head(clients, uri)
    if model is None:
        raise NotFoundError(
            f"Model {model_uri} does not exist.", "check the URI, or run `wasync push-model` again"
        )
    image_capabilities.check_model_fits(
        clients, image_uri, model.get("Metadata", {}).get("engine"), "deploy"
    )
    _check_image(clients, image_uri)
    return model_uri, image_uri, role_arn


def _check_image(clients: Clients, image_uri: str) -> None:
    match = ECR_IMAGE.match(image_uri)
    if not match or clients.settings.is_local:
        return  # a public or non-ECR registry: SageMaker checks it at deploy time
    _, _, repository, tag, digest = match.groups()
    image_id = {"imageDigest": digest} if digest else {"imageTag": tag or "latest"}
    try:
        clients.client("ecr").describe_images(repositoryName=repository, imageIds=[image_id])
    except Exception as exc:
        if error_code(exc) in {"ImageNotFoundException", "RepositoryNotFoundException"}:
            raise NotFoundError(
                f"Image {image_uri} does not exist in ECR.", "run `wasync build`, or check --image"
            ) from exc
        raise


def describe(clients: Clients, endpoint: str) -> dict[str, Any] | None:
    try:
        return dict(clients.client("sagemaker").describe_endpoint(EndpointName=endpoint))
    except Exception as exc:
        if error_code(exc) == "ValidationException" and "ould not find" in str(exc):
            return None
        raise


def ensure_topics(clients: Clients, endpoint: str) -> tuple[str, str]:
    """SNS success and error topics; CreateTopic returns the existing ARN when one exists."""
    sns = clients.client("sns")
    arns = [
        sns.create_topic(Name=name, Tags=naming.tags(endpoint))["TopicArn"]
        for name in naming.topic_names(endpoint)
    ]
    return arns[0], arns[1]


def plan_deploy(
    clients: Clients, request: DeployRequest, now: dt.datetime | None = None
) -> DeployPlan:
    settings = clients.settings
    endpoint = settings.endpoint
    if request.max_concurrency < 1 or request.initial_count < 1:
        raise UsageError("--max-concurrency and --initial-count must be at least 1")
    for name, value in (
        ("startup", request.startup_timeout),
        ("download", request.download_timeout),
    ):
        if not 60 <= value <= 3600:
            raise UsageError(f"--{name}-timeout must be between 60 and 3600 seconds, not {value}")
    defaults = request_defaults(request)
    notes = [w for w in [check_instance_type(request.instance_type)] if w]
    model_uri, image_uri, role_arn = resolve_inputs(clients, request)
    bucket = storage.ensure_bucket(clients)
    name = naming.unique_name(endpoint, now)
    environment = {"WASYNC_MAX_CONCURRENCY": str(request.max_concurrency), **request.environment}
    if request.compute_type:
        environment["WASYNC_COMPUTE_TYPE"] = request.compute_type
    environment.update(defaults)
    output_config: dict[str, Any] = {
        "S3OutputPath": f"s3://{bucket}/{naming.output_prefix(settings.prefix, endpoint)}",
        "S3FailurePath": f"s3://{bucket}/{naming.failure_prefix(settings.prefix, endpoint)}",
    }
    if request.notify:
        success, error = ensure_topics(clients, endpoint)
        output_config["NotificationConfig"] = {"SuccessTopic": success, "ErrorTopic": error}
    existing = describe(clients, endpoint)
    tags = naming.tags(endpoint)
    calls = [
        ApiCall(
            "create_model",
            {
                "ModelName": name,
                "ExecutionRoleArn": role_arn,
                "PrimaryContainer": {
                    "Image": image_uri,
                    "ModelDataUrl": model_uri,
                    "Environment": environment,
                },
                "Tags": tags,
            },
        ),
        ApiCall(
            "create_endpoint_config",
            {
                "EndpointConfigName": name,
                "ProductionVariants": [
                    {
                        "VariantName": naming.VARIANT,
                        "ModelName": name,
                        "InstanceType": request.instance_type,
                        "InitialInstanceCount": request.initial_count,
                        "ContainerStartupHealthCheckTimeoutInSeconds": request.startup_timeout,
                        "ModelDataDownloadTimeoutInSeconds": request.download_timeout,
                    }
                ],
                "AsyncInferenceConfig": {
                    "ClientConfig": {
                        "MaxConcurrentInvocationsPerInstance": request.max_concurrency
                    },
                    "OutputConfig": output_config,
                },
                "Tags": tags,
            },
        ),
    ]
    if existing is None:
        calls.append(
            ApiCall(
                "create_endpoint",
                {"EndpointName": endpoint, "EndpointConfigName": name, "Tags": tags},
            )
        )
    else:
        if existing["EndpointStatus"] in IN_PROGRESS:
            raise UsageError(
                f"Endpoint {endpoint} is {existing['EndpointStatus']}; it cannot be updated now.",
                "wait for it (`wasync status`), then deploy again",
            )
        calls.append(
            ApiCall("update_endpoint", {"EndpointName": endpoint, "EndpointConfigName": name})
        )
    return DeployPlan(
        endpoint=endpoint,
        action="create" if existing is None else "update",
        model_name=name,
        config_name=name,
        model_uri=model_uri,
        image_uri=image_uri,
        calls=tuple(calls),
        previous_config=existing.get("EndpointConfigName") if existing else None,
        warnings=tuple(notes),
    )


def execute(clients: Clients, plan: DeployPlan) -> None:
    sagemaker = clients.client("sagemaker")
    for call in plan.calls:
        getattr(sagemaker, call.operation)(**call.params)


def wait_for_endpoint(
    clients: Clients,
    endpoint: str,
    timeout: float = 3600,
    on_status: Callable[[str, float], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    backoff: Backoff = DEPLOY_BACKOFF,
) -> EndpointState:
    """Poll until the endpoint leaves its in-progress states; raise on Failed or timeout."""
    started = clock()
    delays = backoff.delays()
    while True:
        described = describe(clients, endpoint)
        if described is None:
            raise NotFoundError(
                f"Endpoint {endpoint} does not exist.", "deploy it with `wasync deploy`"
            )
        status = str(described["EndpointStatus"])
        elapsed = clock() - started
        if on_status:
            on_status(status, elapsed)
        if status == "Failed":
            raise DeploymentFailedError(
                f"Endpoint {endpoint} failed: {described.get('FailureReason', 'no reason given')}",
                "fix the cause, then `wasync deploy` again (it updates in place or recreates)",
            )
        if status not in IN_PROGRESS:
            return EndpointState(
                endpoint,
                status,
                described.get("FailureReason"),
                described.get("EndpointConfigName"),
            )
        if elapsed >= timeout:
            raise WaitTimeoutError(
                f"Endpoint {endpoint} is still {status} after {int(elapsed)}s.",
                "it keeps going on AWS; check later with `wasync status`",
            )
        sleep(min(next(delays), max(timeout - elapsed, 0.1)))


def _tag_value(clients: Clients, arn: str, key: str) -> str | None:
    tags = clients.client("sagemaker").list_tags(ResourceArn=arn).get("Tags", [])
    return next((t["Value"] for t in tags if t["Key"] == key), None)


def delete_config_and_models(clients: Clients, config_name: str) -> list[str]:
    """Delete one wasync-managed endpoint config and its models; skip what is not ours."""
    sagemaker = clients.client("sagemaker")
    removed: list[str] = []
    try:
        config = sagemaker.describe_endpoint_config(EndpointConfigName=config_name)
    except Exception as exc:
        if error_code(exc) == "ValidationException":
            return removed
        raise
    if _tag_value(clients, config["EndpointConfigArn"], "managed-by") != "wasync":
        return removed
    sagemaker.delete_endpoint_config(EndpointConfigName=config_name)
    removed.append(f"endpoint-config/{config_name}")
    for variant in config.get("ProductionVariants", []):
        model = variant.get("ModelName")
        try:
            sagemaker.delete_model(ModelName=model)
            removed.append(f"model/{model}")
        except Exception as exc:
            if error_code(exc) != "ValidationException":
                raise
    return removed


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


def remove_superseded(clients: Clients, endpoint: str, keep: str | None) -> tuple[str, ...]:
    removed: list[str] = []
    for name in managed_config_names(clients, endpoint):
        if name != keep:
            removed += delete_config_and_models(clients, name)
    return tuple(removed)


def deploy(
    clients: Clients,
    plan: DeployPlan,
    wait: bool = True,
    timeout: float = 3600,
    on_status: Callable[[str, float], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> DeployResult:
    """Run a plan; with `wait`, wait for InService and remove superseded configs and models."""
    execute(clients, plan)
    result = DeployResult(
        plan.endpoint,
        plan.action,
        "Pending",
        plan.model_name,
        plan.config_name,
        plan.model_uri,
        plan.image_uri,
    )
    if not wait:
        return result
    final = wait_for_endpoint(clients, plan.endpoint, timeout, on_status, sleep, clock)
    if final.config_name != plan.config_name:
        # An update that failed rolls back to the old config and reports why.
        delete_config_and_models(clients, plan.config_name)
        raise DeploymentFailedError(
            f"Updating {plan.endpoint} failed and was rolled back: {final.failure_reason or 'no reason given'}",
            f"the endpoint still serves {final.config_name}",
        )
    removed = remove_superseded(clients, plan.endpoint, keep=plan.config_name)
    return DeployResult(
        plan.endpoint,
        plan.action,
        final.status,
        plan.model_name,
        plan.config_name,
        plan.model_uri,
        plan.image_uri,
        removed,
    )
