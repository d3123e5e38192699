"""deploy: the SageMaker model, endpoint config and async endpoint, planned then executed."""

from __future__ import annotations

import contextlib
import datetime as dt
import difflib
import functools
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, NamedTuple

import botocore.session
from botocore.model import StringShape

from . import aws, cpu_encoders, image_capabilities, model_languages, naming, state, storage
from .assignments import split_assignment
from .attributes import MAX_BATCH_SETTING, OptionError, parse_batch_limit, parse_value
from .clients import Clients
from .digits import whole_number
from .errors import (
    AwsError,
    DeploymentFailedError,
    NotFoundError,
    UsageError,
    WaitTimeoutError,
    WasyncError,
)
from .plan import Plan, Step, execute
from .polling import Backoff
from .resources import (
    delete_config_and_models,
    delete_deploy_leftovers,
    find_endpoint,
    find_endpoint_config,
    find_model,
    meant_instances,
    remove_superseded,
    require_endpoint,
    variant_name,
)
from .setting_numbers import most_for, number

ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$", re.ASCII)
ECR_IMAGE = re.compile(
    r"^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/([^:@]+)(?::([\w.-]+))?(?:@(sha256:[0-9a-f]{64}))?$",
    re.ASCII,
)
LOCAL_IMAGE = "wasync-local/process-runtime:latest"
# A size, as instance types spell one: a typo in it is refused before anything is made.
INSTANCE_SIZE = re.compile(
    r"^(?:\d*xlarge|large|medium|small|micro|nano|metal(?:-\d+xl)?)$", re.ASCII
)
DEPLOY_BACKOFF = Backoff(first=1.0, factor=1.5, cap=15.0)
IN_PROGRESS = {"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"}


@dataclass(frozen=True)
class DeployRequest:
    instance_type: str = "ml.g5.xlarge"
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
    cpu_encoder: str | None = None
    # --env: more container variables (WASYNC_MAX_AUDIO_SECONDS...); "" removes one. An
    # existing endpoint keeps those it has unless they are named again.
    environment: Mapping[str, str] = field(default_factory=dict)
    # Settings the user did not give (KEPT): an existing endpoint keeps its own for them
    kept: frozenset[str] = frozenset()


KEPT = (
    "instance_type",
    "max_concurrency",
    "initial_count",
    "notify",
    "startup_timeout",
    "download_timeout",
    "compute_type",
    "cpu_encoder",
    "default_language",
    "default_batch_size",
)
# The container's variables that stand for request settings, read back from a running model
KEPT_VARIABLES = {
    "compute_type": "WASYNC_COMPUTE_TYPE",
    "cpu_encoder": cpu_encoders.SETTING,
    "default_language": "WASYNC_DEFAULT_LANGUAGE",
    "default_batch_size": "WASYNC_DEFAULT_BATCH_SIZE",
}


# Variables deploy sets from its own options; --env may not set them
MANAGED_VARIABLES = frozenset(
    {
        "WASYNC_ENDPOINT_NAME",
        "WASYNC_MAX_CONCURRENCY",
        model_languages.SETTING,
        *KEPT_VARIABLES.values(),
    }
)
MAX_ENV_VALUE = 1024  # SageMaker's limit on an Environment value
SECRET_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|CREDENTIAL|ACCESS_KEY|API_KEY", re.I)
ACCESS_KEY_ID = re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")
MAX_ENV_ENTRIES = 100


def _managed(name: str) -> bool:
    return name in MANAGED_VARIABLES or name.startswith("WASYNC_DEFAULT_")


def parse_env(assignments: list[str]) -> dict[str, str]:
    """--env NAME=VALUE options, checked: a bad one would surface only as a container that
    fails to start, minutes into the deploy."""
    environment = {}
    for assignment in assignments:
        name, value = split_assignment(assignment, "--env", "WASYNC_MAX_AUDIO_SECONDS=28800")
        if name == model_languages.SETTING:
            raise UsageError(
                f"--env cannot set {name}: deploy sets it from what push-model recorded of the "
                "model (its vocabulary's size) in the model's S3 metadata",
            )
        if _managed(name):
            raise UsageError(
                f"--env cannot set {name}: deploy sets it from its own options",
                "see `wasync deploy --help` (--max-concurrency, --language, --batch-size ...)",
            )
        if SECRET_NAME.search(name) or ACCESS_KEY_ID.search(value):
            raise UsageError(
                f"--env {name}: a credential in a container's environment is shown to anyone "
                "who can describe the model, and in deploy's own output",
                "grant the endpoint's execution role what it needs instead (`wasync iam`)",
            )
        if len(value) > MAX_ENV_VALUE:
            raise UsageError(f"--env {name}: the value is over {MAX_ENV_VALUE} characters")
        most = most_for(name)
        try:  # the server's own rules: else the container refuses it at start, rolled back
            if most is not None:
                number({name: value}, name, 0, most)
            if name == MAX_BATCH_SETTING:
                parse_batch_limit(value)
        except ValueError as exc:
            raise UsageError(f"--env {exc}") from None
        if name == "WASYNC_MODEL_DIR":  # the container would look for its model elsewhere
            raise UsageError(
                "--env cannot set WASYNC_MODEL_DIR: SageMaker unpacks the model at "
                "/opt/ml/model, where the container reads it",
                "pass the model with --model instead",
            )
        if name.startswith("SAGEMAKER_"):
            raise UsageError(
                f"--env cannot set {name}: SageMaker sets its own SAGEMAKER_ variables"
            )
        environment[name] = value
    return environment


def completed(request: DeployRequest, running: Deployment | None) -> DeployRequest:
    """The request with each setting in `kept` taken from the deployment the endpoint runs: a
    re-run of `deploy` for a new model changed the instance type and concurrency back to the
    defaults (and SageMaker refuses a new instance type on an autoscaled endpoint). The
    running --env variables stay, with the request's set over them ("" removes one)."""
    if running is None:
        return replace(request, environment=_set(request.environment))
    environment = dict(running.environment)
    extra = {name: value for name, value in environment.items() if not _managed(name)}
    request = replace(request, environment=_set({**extra, **request.environment}))
    batch_size = environment.get(KEPT_VARIABLES["default_batch_size"], "")
    found: dict[str, Any] = {
        "instance_type": running.instance_type,
        "max_concurrency": running.max_concurrency,
        "initial_count": running.initial_count,
        "notify": running.success_topic is not None,
        "startup_timeout": running.startup_timeout,
        "download_timeout": running.download_timeout,
        **{key: environment.get(variable) for key, variable in KEPT_VARIABLES.items()},
        "default_batch_size": whole_number(batch_size),
    }
    kept = {name: found[name] for name in request.kept if name in found}
    # a variable the endpoint lacks is the default (None); a field SageMaker left out is kept
    return replace(
        request,
        **{k: v for k, v in kept.items() if v is not None or k in KEPT_VARIABLES},
    )


def _set(environment: Mapping[str, str]) -> dict[str, str]:
    chosen = {name: value for name, value in environment.items() if value != ""}
    if len(chosen) > MAX_ENV_ENTRIES - 10:  # room for deploy's own variables
        raise UsageError(
            f"--env: at most {MAX_ENV_ENTRIES - 10} variables, counting those the endpoint has",
            "remove some with --env NAME=",
        )
    return chosen


def request_defaults(request: DeployRequest) -> dict[str, str]:
    """The container's WASYNC_DEFAULT_* variables, checked here: a bad one would only surface
    as a container that never turns healthy."""
    defaults = {"language": request.default_language, "batch_size": request.default_batch_size}
    environment = {}
    for name, value in defaults.items():
        if value is None:
            continue
        try:
            parsed = parse_value(name, str(value))
        except OptionError as exc:
            raise UsageError(f"--{name.replace('_', '-')}: {exc}") from None
        if parsed is not None:  # --language '' or auto: detection, the server's own default
            environment[f"WASYNC_DEFAULT_{name.upper()}"] = str(parsed)
    limit = request.environment.get(MAX_BATCH_SETTING)
    if limit and request.default_batch_size and request.default_batch_size > int(limit):
        raise UsageError(  # the server would refuse every request that left it to the default
            f"--batch-size {request.default_batch_size} is over the endpoint's limit "
            f"{MAX_BATCH_SETTING}={limit}: every request would be refused",
            f"pass --batch-size {limit} or less, or raise the limit with --env "
            f"{MAX_BATCH_SETTING}=N",
        )
    return environment


@dataclass(frozen=True)
class Deployment:
    """What `deploy` compares to decide that an endpoint is up to date: every setting a
    request can change, as SageMaker describes it back."""

    image: str | None
    model_data: str | None
    role_arn: str | None
    environment: tuple[tuple[str, str], ...]
    instance_type: str | None
    initial_count: int | None
    startup_timeout: int | None
    download_timeout: int | None
    max_concurrency: int | None
    output_path: str | None
    failure_path: str | None
    success_topic: str | None
    error_topic: str | None

    @classmethod
    def of(cls, model: Mapping[str, Any], config: Mapping[str, Any]) -> Deployment:
        """From CreateModel/DescribeModel and CreateEndpointConfig/DescribeEndpointConfig."""
        container = model.get("PrimaryContainer") or (model.get("Containers") or [{}])[0]
        variants = config.get("ProductionVariants") or [{}]
        variant = variants[0] if len(variants) == 1 else {}
        async_config = config.get("AsyncInferenceConfig") or {}
        output = async_config.get("OutputConfig") or {}
        notify = output.get("NotificationConfig") or {}
        return cls(
            image=container.get("Image"),
            model_data=container.get("ModelDataUrl"),
            role_arn=model.get("ExecutionRoleArn"),
            environment=tuple(sorted((container.get("Environment") or {}).items())),
            instance_type=variant.get("InstanceType"),
            initial_count=variant.get("InitialInstanceCount"),
            startup_timeout=variant.get("ContainerStartupHealthCheckTimeoutInSeconds"),
            download_timeout=variant.get("ModelDataDownloadTimeoutInSeconds"),
            max_concurrency=(async_config.get("ClientConfig") or {}).get(
                "MaxConcurrentInvocationsPerInstance"
            ),
            output_path=output.get("S3OutputPath"),
            failure_path=output.get("S3FailurePath"),
            success_topic=notify.get("SuccessTopic"),
            error_topic=notify.get("ErrorTopic"),
        )

    def changes(self, other: Deployment) -> tuple[str, ...]:
        """The settings that differ, as `name: old -> new` (other is the new one); the
        environment by variable."""
        found = []
        for f in fields(self):
            old, new = getattr(self, f.name), getattr(other, f.name)
            if old == new:
                continue
            if f.name == "environment":
                found += environment_changes(dict(old), dict(new))
            else:
                found.append(f"{f.name}: {old} -> {new}")
        return tuple(found)


def _instance_count_change(existing: Mapping[str, Any], request: DeployRequest) -> tuple[str, ...]:
    """An --initial-count the user gave, against the instances the endpoint is meant to run
    now: autoscaling (or a scale to zero) moves those away from the config's count."""
    if "initial_count" in request.kept:
        return ()
    desired = meant_instances(existing)
    if desired is None or desired == request.initial_count:
        return ()
    return (f"instances: {desired} -> {request.initial_count}",)


def environment_changes(old: Mapping[str, str], new: Mapping[str, str]) -> list[str]:
    return [
        f"environment {name}: {old.get(name, '(unset)')} -> {new.get(name, '(unset)')}"
        for name in sorted(old.keys() | new.keys())
        if old.get(name) != new.get(name)
    ]


@dataclass(frozen=True)
class DeployPlan:
    endpoint: str
    action: str  # "create", "update" or "unchanged"
    model_name: str
    config_name: str
    model_uri: str
    image_uri: str
    variant: str
    steps: tuple[Step, ...]
    previous_config: str | None = None
    changes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def plan(self) -> Plan:
        return Plan(self.steps)


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
    """Refuse a type whose size is misspelled (ml.g5.xlarg), naming the closest type SageMaker
    offers; only warn about a well-formed type the installed botocore does not list, since
    new types appear often."""
    if not instance_type.startswith("ml."):
        raise UsageError(
            f"instance type {instance_type!r} must start with 'ml.'", "e.g. --instance ml.g5.xlarge"
        )
    offered = instance_types()
    if instance_type in offered:
        return None
    family, _, size = instance_type.rpartition(".")
    if family == "ml" or not INSTANCE_SIZE.match(size):
        close = difflib.get_close_matches(instance_type, offered, n=1, cutoff=0.6)
        raise UsageError(
            f"instance type {instance_type!r} has no size SageMaker knows ({size!r})",
            f"did you mean --instance {close[0]}?" if close else "e.g. --instance ml.g5.xlarge",
        )
    return f"{instance_type} is not an instance type botocore lists; deploying anyway"


@functools.cache
def instance_types() -> tuple[str, ...]:
    """The endpoint instance types of the installed botocore's SageMaker model."""
    model = botocore.session.get_session().get_service_model("sagemaker")
    shape = model.shape_for("ProductionVariantInstanceType")
    assert isinstance(shape, StringShape)
    return tuple(shape.enum)


def _resolve(clients: Clients, value: str | None, key: str) -> str | None:
    if value in {None, "last"}:
        return state.recall(clients.settings, clients.region, key)
    return value


class Inputs(NamedTuple):
    model_uri: str
    image_uri: str
    role_arn: str
    engine: str | None  # the model's, as push-model recorded it; None when unknown
    languages: str | None  # model_languages' value push-model recorded; None when unknown


def named_inputs(clients: Clients, request: DeployRequest) -> tuple[str, str, str]:
    """The model URI, image URI and role ARN as given or remembered, checked without a call to
    AWS: a missing one is named before deploy reaches (or fails to reach) an endpoint."""
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
        role_arn = role_arn or naming.LOCAL_ROLE
    if not image_uri:
        raise UsageError("No serving image.", "run `wasync build` first, or pass --image URI")
    if not role_arn:
        raise UsageError(
            "No SageMaker execution role.",
            "pass --role ARN or set WASYNC_ROLE_ARN; `wasync iam --create` makes one",
        )
    if not ROLE_ARN.fullmatch(role_arn):
        raise UsageError(
            f"{role_arn!r} is not an IAM role ARN", "expected arn:aws:iam::123456789012:role/NAME"
        )
    return model_uri, image_uri, role_arn


def resolve_inputs(clients: Clients, request: DeployRequest) -> Inputs:
    """The model URI, image URI and role ARN (and the model's engine), validated before any
    change is made."""
    model_uri, image_uri, role_arn = named_inputs(clients, request)
    uri = storage.S3Uri.parse(model_uri)
    model = storage.head(clients, uri)
    if model is None:
        remembered = request.model_uri in {None, "last"}
        if remembered and clients.settings.is_local:  # `local down`, `local up`: an empty stack
            raise NotFoundError(
                f"The last model pushed, {model_uri}, is not in this local stack: a stack "
                "started again keeps nothing of the one before.",
                "run `wasync push-model` again",
            )
        raise NotFoundError(
            f"{'The last model pushed, ' if remembered else 'Model '}{model_uri}"
            f"{',' if remembered else ''} does not exist.",
            "check the URI, or run `wasync push-model` again",
        )
    image_capabilities.check_model_fits(
        clients, image_uri, model.get("Metadata", {}).get("engine"), "deploy"
    )
    _check_image(clients, image_uri)
    metadata = model.get("Metadata", {})
    languages = model_languages.known(metadata.get(model_languages.METADATA_KEY))
    return Inputs(model_uri, image_uri, role_arn, metadata.get("engine"), languages)


def _check_image(clients: Clients, image_uri: str) -> None:
    match = ECR_IMAGE.fullmatch(image_uri)
    if not match or clients.settings.is_local:
        return  # a public or non-ECR registry: SageMaker checks it at deploy time
    _, _, repository, tag, digest = match.groups()
    image_id = {"imageDigest": digest} if digest else {"imageTag": tag or "latest"}
    found = aws.find(
        clients.client("ecr").describe_images, repositoryName=repository, imageIds=[image_id]
    )
    if found is None:
        raise NotFoundError(
            f"Image {image_uri} does not exist in ECR.", "run `wasync build`, or check --image"
        )


def current_deployment(
    clients: Clients, described: Mapping[str, Any]
) -> tuple[str, Deployment] | None:
    """(model name, what the endpoint runs now); None when its config or model cannot be read
    back or it has several variants."""
    config = find_endpoint_config(clients, str(described.get("EndpointConfigName")))
    variants = (config or {}).get("ProductionVariants") or []
    if config is None or len(variants) != 1:
        return None
    model_name = str(variants[0].get("ModelName"))
    model = find_model(clients, model_name)
    return None if model is None else (model_name, Deployment.of(model, config))


def topics_plan(clients: Clients, endpoint: str) -> tuple[Plan, str, str]:
    """The success and error topics' ARNs, and the steps that create those that are missing."""
    sns = clients.client("sns")
    steps = []
    arns = []
    for name in naming.topic_names(endpoint):
        arn = clients.arn("sns", name)
        arns.append(arn)
        if aws.find(sns.get_topic_attributes, TopicArn=arn) is None:
            steps.append(
                Step(
                    "sns",
                    "create_topic",
                    {"Name": name, "Tags": naming.tags(endpoint)},
                    f"create SNS topic {name}",
                )
            )
    return Plan(tuple(steps)), arns[0], arns[1]


# CTranslate2's compute types (its StorageView types and `auto`/`default`); the openai engine
# reads float32 (or fp32) as "not fp16 on a GPU".
COMPUTE_TYPES = (
    "default",
    "auto",
    "int8",
    "int8_float32",
    "int8_float16",
    "int8_bfloat16",
    "int16",
    "float16",
    "bfloat16",
    "float32",
    "fp32",
)


def _validate(request: DeployRequest) -> dict[str, str]:
    low, high = aws.member_range(
        "sagemaker", "AsyncInferenceClientConfig", "MaxConcurrentInvocationsPerInstance"
    )
    if request.max_concurrency > high:  # else CreateEndpointConfig refuses it, mid-deploy
        raise UsageError(
            f"--max-concurrency {request.max_concurrency} is out of range: SageMaker accepts "
            f"{low} to {high}",
            f"pass --max-concurrency {high} or less",
        )
    for flag, value in (
        ("--max-concurrency", request.max_concurrency),
        ("--initial-count", request.initial_count),
    ):
        if value < 1:
            raise UsageError(
                f"{flag} {value} is not allowed: it must be at least 1",
                "to run no instance while idle, deploy with 1 and then `wasync autoscale --min 0`"
                if flag == "--initial-count"
                else "pass --max-concurrency 1 or more (requests one instance works on at once)",
            )
    if request.compute_type is not None and request.compute_type not in COMPUTE_TYPES:
        # else the endpoint fails at its model's load, ten minutes or more into the deploy
        raise UsageError(
            f"--compute-type {request.compute_type!r} is not a compute type the engines know",
            f"use one of {', '.join(COMPUTE_TYPES)}",
        )
    for name, value in (
        ("startup", request.startup_timeout),
        ("download", request.download_timeout),
    ):
        if not 60 <= value <= 3600:
            raise UsageError(f"--{name}-timeout must be between 60 and 3600 seconds, not {value}")
    cpu_encoder(request)
    return request_defaults(request)


def _check_default_language(
    model_uri: str, languages: str | None, defaults: Mapping[str, str]
) -> None:
    """A default language an English-only model cannot serve would fail every request that
    leaves the language to it, so deploy refuses it (kept from the running endpoint or not)."""
    if languages != model_languages.ENGLISH:
        return
    language = defaults.get("WASYNC_DEFAULT_LANGUAGE")
    refused = model_languages.refusal(f"the model {model_uri}", language, "transcribe")
    if refused:
        raise UsageError(
            f"--language {language} as the endpoint's default: {refused}",
            "deploy with --language en or --language auto, or push a multilingual model "
            "(`wasync push-model base`)",
        )


def cpu_encoder(request: DeployRequest) -> str | None:
    """--cpu-encoder in any case; None for the default (ctranslate2), which sets nothing, so
    naming the default is not a change of a running endpoint."""
    given = (request.cpu_encoder or "").strip().lower() or cpu_encoders.CTRANSLATE2
    if given not in cpu_encoders.CHOICES:
        raise UsageError(
            f"--cpu-encoder {request.cpu_encoder!r} is not one of {', '.join(cpu_encoders.CHOICES)}"
        )
    return None if given == cpu_encoders.CTRANSLATE2 else given


def on_gpu(request: DeployRequest) -> bool:
    return request.instance_type.startswith(cpu_encoders.GPU_FAMILIES)


def cpu_encoder_note(request: DeployRequest, local: bool = False) -> str | None:
    """A warning where --cpu-encoder torch-bfloat16 cannot pay off on the instance type (on
    the local stack the type is a name: the server runs on this machine's CPU, and says
    itself when that CPU lacks AMX)."""
    if cpu_encoder(request) != cpu_encoders.TORCH_BFLOAT16 or local:
        return None
    instance = request.instance_type
    if on_gpu(request):
        return f"--cpu-encoder applies to CPU instances; {instance} encodes on its GPU"
    if not instance.startswith(cpu_encoders.AMX_FAMILIES):
        return (
            f"{instance} is not known to have AMX (ml.c7i, ml.m7i and ml.r7i have it); "
            "without it torch's bfloat16 encoder is likely slower than the default"
        )
    return None


def _environment(
    endpoint: str, request: DeployRequest, defaults: Mapping[str, str], languages: str | None
) -> dict[str, str]:
    """The container's environment. WASYNC_ENDPOINT_NAME names the endpoint in the request
    log's `Endpoint` field and metric dimension: SageMaker does not tell a container.
    WASYNC_MODEL_LANGUAGES tells transcribe what the model can do (model_languages.py)."""
    environment = {
        "WASYNC_ENDPOINT_NAME": endpoint,
        "WASYNC_MAX_CONCURRENCY": str(request.max_concurrency),
        **request.environment,
    }
    if languages:
        environment[model_languages.SETTING] = languages
    if request.compute_type:
        environment["WASYNC_COMPUTE_TYPE"] = request.compute_type
    encoder = cpu_encoder(request)
    if encoder:
        environment[cpu_encoders.SETTING] = encoder
    return {**environment, **defaults}


def _model_params(
    name: str,
    role_arn: str,
    image_uri: str,
    model_uri: str,
    environment: Mapping[str, str],
    tags: list[dict[str, str]],
) -> dict[str, Any]:
    return {
        "ModelName": name,
        "ExecutionRoleArn": role_arn,
        "PrimaryContainer": {
            "Image": image_uri,
            "ModelDataUrl": model_uri,
            "Environment": dict(environment),
        },
        "Tags": tags,
    }


def _config_params(
    name: str,
    variant: str,
    request: DeployRequest,
    output_config: Mapping[str, Any],
    tags: list[dict[str, str]],
) -> dict[str, Any]:
    return {
        "EndpointConfigName": name,
        "ProductionVariants": [
            {
                "VariantName": variant,
                "ModelName": name,
                "InstanceType": request.instance_type,
                "InitialInstanceCount": request.initial_count,
                "ContainerStartupHealthCheckTimeoutInSeconds": request.startup_timeout,
                "ModelDataDownloadTimeoutInSeconds": request.download_timeout,
            }
        ],
        "AsyncInferenceConfig": {
            "ClientConfig": {"MaxConcurrentInvocationsPerInstance": request.max_concurrency},
            "OutputConfig": dict(output_config),
        },
        "Tags": tags,
    }


def _endpoint_step(
    endpoint: str, name: str, create: bool, tags: list[dict[str, str]], keep_count: bool
) -> Step:
    if create:
        return Step(
            "sagemaker",
            "create_endpoint",
            {"EndpointName": endpoint, "EndpointConfigName": name, "Tags": tags},
            f"create async endpoint {endpoint}",
        )
    # The variant's instance count is autoscaling's (0 when scaled in, more under load), not
    # the new config's InitialInstanceCount; only an --initial-count given replaces it.
    params: dict[str, Any] = {
        "EndpointName": endpoint,
        "EndpointConfigName": name,
        "RetainAllVariantProperties": True,
    }
    if not keep_count:
        params["ExcludeRetainedVariantProperties"] = [
            {"VariantPropertyType": "DesiredInstanceCount"}
        ]
    return Step(
        "sagemaker",
        "update_endpoint",
        params,
        f"update endpoint {endpoint} in place to config {name}",
    )


def _autoscaled_count_note(clients: Clients, described: Mapping[str, Any], count: int) -> list[str]:
    """An --initial-count on an autoscaled endpoint holds only until autoscaling's next step
    (a scale-in when idle): say so, and how to keep it."""
    from .scaling import current

    scaling = current(clients, str(described["EndpointName"]), variant_name(described))
    if scaling is None or scaling.min_capacity >= count:
        return []
    return [
        f"{described['EndpointName']} is autoscaled (min {scaling.min_capacity}, max "
        f"{scaling.max_capacity}): its {count} instance(s) stay only until autoscaling scales "
        f"in when idle; `wasync autoscale --min {count}` keeps them"
    ]


def _check_no_autoscaling(
    clients: Clients, described: Mapping[str, Any], old_type: str | None, new_type: str | None
) -> None:
    """SageMaker refuses an UpdateEndpoint that changes an autoscaled variant's instance type
    ("Update endpoints that use auto scaling"): say so before anything is created."""
    from .scaling import current

    if current(clients, str(described["EndpointName"]), variant_name(described)) is None:
        return
    raise UsageError(
        f"Endpoint {described['EndpointName']} is autoscaled, and SageMaker refuses to change "
        f"an autoscaled endpoint's instance type ({old_type} -> {new_type}).",
        "run `wasync autoscale --off`, deploy, then `wasync autoscale` again; or deploy "
        f"without --instance to keep {old_type}",
    )


def plan_deploy(
    clients: Clients, request: DeployRequest, now: dt.datetime | None = None
) -> DeployPlan:
    """Every step deploy would take, found by reading only: the bucket and topics when
    missing, then a new model and config and CreateEndpoint or UpdateEndpoint, or nothing
    when the endpoint already runs exactly what is asked."""
    settings = clients.settings
    endpoint = settings.endpoint
    named_inputs(clients, request)
    existing = find_endpoint(clients, endpoint)
    if existing is not None and existing["EndpointStatus"] in IN_PROGRESS:
        raise UsageError(
            f"Endpoint {endpoint} is {existing['EndpointStatus']}; it cannot be updated now.",
            "deploy without --no-wait or --dry-run waits for it first; or wait for it "
            "(`wasync status`), then deploy again",
        )
    running = current_deployment(clients, existing) if existing is not None else None
    request = completed(request, running[1] if running else None)
    if existing and running and running[1].instance_type != request.instance_type:
        _check_no_autoscaling(clients, existing, running[1].instance_type, request.instance_type)
    defaults = _validate(request)
    notes = [
        w
        for w in [
            check_instance_type(request.instance_type),
            cpu_encoder_note(request, settings.is_local),
        ]
        if w
    ]
    model_uri, image_uri, role_arn, engine, languages = resolve_inputs(clients, request)
    _check_default_language(model_uri, languages, defaults)
    if cpu_encoder(request) == cpu_encoders.TORCH_BFLOAT16:
        if engine == "openai":
            notes.append(
                f"--cpu-encoder applies to the faster engine; {model_uri} is an openai-whisper "
                "checkpoint, which encodes in torch float32 on CPU whatever it says"
            )
        if not on_gpu(request):
            image_capabilities.check_holds_torch(clients, image_uri, "--cpu-encoder torch-bfloat16")
    prerequisites = storage.bucket_plan(clients)
    output_path, failure_path = naming.result_paths(clients.bucket, settings.prefix, endpoint)
    output_config: dict[str, Any] = {"S3OutputPath": output_path, "S3FailurePath": failure_path}
    if request.notify:
        topics, success, error = topics_plan(clients, endpoint)
        prerequisites += topics
        output_config["NotificationConfig"] = {"SuccessTopic": success, "ErrorTopic": error}
    variant = naming.VARIANT if existing is None else variant_name(existing)
    name = naming.unique_name(endpoint, now)
    tags = naming.tags(endpoint)
    model_params = _model_params(
        name,
        role_arn,
        image_uri,
        model_uri,
        _environment(endpoint, request, defaults, languages),
        tags,
    )
    config_params = _config_params(name, variant, request, output_config, tags)
    wanted = Deployment.of(model_params, config_params)
    plan = DeployPlan(
        endpoint=endpoint,
        action="create",
        model_name=name,
        config_name=name,
        model_uri=model_uri,
        image_uri=image_uri,
        variant=variant,
        steps=(),
        warnings=tuple(notes),
    )
    if existing is not None:
        changes = running[1].changes(wanted) if running else ("the running config is unreadable",)
        count_change = _instance_count_change(existing, request)
        if count_change:
            changes += count_change
            notes += _autoscaled_count_note(clients, existing, request.initial_count)
        plan = replace(
            plan,
            action="update",
            previous_config=existing.get("EndpointConfigName"),
            changes=changes,
            warnings=tuple(notes),
        )
        if running is not None and not changes and existing["EndpointStatus"] == "InService":
            # Nothing to change: UpdateEndpoint would start a blue/green deployment of several
            # minutes for nothing.
            return replace(
                plan,
                action="unchanged",
                model_name=running[0],
                config_name=str(existing["EndpointConfigName"]),
                steps=prerequisites.steps,
            )
    sagemaker_steps = (
        Step("sagemaker", "create_model", model_params, f"create model {name}"),
        Step(
            "sagemaker",
            "create_endpoint_config",
            config_params,
            f"create endpoint config {name} ({request.instance_type} x{request.initial_count})",
        ),
        _endpoint_step(
            endpoint, name, existing is None, tags, keep_count="initial_count" in request.kept
        ),
    )
    return replace(plan, steps=prerequisites.steps + sagemaker_steps)


def wait_for_endpoint(
    clients: Clients,
    endpoint: str,
    timeout: float = 3600,
    on_status: Callable[[str, float], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    backoff: Backoff = DEPLOY_BACKOFF,
    failed_is_settled: bool = False,
) -> EndpointState:
    """Poll until the endpoint leaves its in-progress states; raise on timeout, and on Failed
    unless `failed_is_settled` (a change under way that ended, for a deploy to come)."""
    started = clock()
    delays = backoff.delays()
    while True:
        described = require_endpoint(clients, endpoint, "deploy it with `wasync deploy`")
        status = str(described["EndpointStatus"])
        elapsed = clock() - started
        if on_status:
            on_status(status, elapsed)
        if status == "Failed" and not failed_is_settled:
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


def wait_for_earlier_change(
    clients: Clients,
    timeout: float,
    on_status: Callable[[str, float], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> str | None:
    """Before a deploy that waits: let a change already under way (an earlier `--no-wait`
    deploy, SageMaker's own update, a delete) finish, since SageMaker refuses another until
    then. Returns the status waited on, or None when there was nothing to wait for."""
    endpoint = clients.settings.endpoint
    existing = find_endpoint(clients, endpoint)
    if existing is None or existing["EndpointStatus"] not in IN_PROGRESS:
        return None
    with contextlib.suppress(NotFoundError):  # it was being deleted: deploy creates it anew
        wait_for_endpoint(
            clients, endpoint, timeout, on_status, sleep, clock, failed_is_settled=True
        )
    return str(existing["EndpointStatus"])


def deploy(
    clients: Clients,
    plan: DeployPlan,
    wait: bool = True,
    timeout: float = 3600,
    on_status: Callable[[str, float], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> DeployResult:
    """Run a plan; with `wait`, wait for InService and remove superseded configs and models
    (an endpoint found up to date, too)."""
    started: list[Step] = []
    try:
        execute(clients, plan.plan, started.append)
    except AwsError as exc:
        # AWS refused CreateModel or CreateEndpointConfig: what the steps before it made would
        # wait for the next deploy to remove it. Not once the endpoint step ran: a retry after
        # a lost answer is refused too, while the endpoint switches to this config.
        endpoint_step = started[-1].operation in {"create_endpoint", "update_endpoint"}
        if exc.code is not None and plan.action != "unchanged" and not endpoint_step:
            with contextlib.suppress(WasyncError):  # the refusal is the error to show
                delete_deploy_leftovers(clients, plan.config_name, plan.model_name)
        raise
    result = DeployResult(
        plan.endpoint,
        plan.action,
        "InService" if plan.action == "unchanged" else "Pending",
        plan.model_name,
        plan.config_name,
        plan.model_uri,
        plan.image_uri,
    )
    if plan.action == "unchanged":
        # A deploy interrupted before its update leaves a config and model of its own; the
        # same command again finds the endpoint up to date, and only this removes them.
        removed = remove_superseded(clients, plan.endpoint, keep=plan.config_name) if wait else ()
        return replace(result, removed=removed)
    if not wait:
        described = find_endpoint(clients, plan.endpoint)
        return replace(result, status=str(described["EndpointStatus"]) if described else "Pending")
    final = wait_for_endpoint(clients, plan.endpoint, timeout, on_status, sleep, clock)
    if final.config_name != plan.config_name:
        # An update that failed rolls back to the old config and reports why.
        delete_config_and_models(clients, plan.config_name)
        raise DeploymentFailedError(
            f"Updating {plan.endpoint} failed and was rolled back: {final.failure_reason or 'no reason given'}",
            f"the endpoint still serves {final.config_name}",
        )
    removed = remove_superseded(clients, plan.endpoint, keep=plan.config_name)
    return replace(result, status=final.status, removed=removed)
