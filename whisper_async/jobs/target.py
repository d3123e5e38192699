"""The endpoint a batch runs on: checked before anything is uploaded, and described enough to
know where every job's result will land before it is invoked."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .. import model_languages
from ..attributes import canonical_options
from ..clients import Clients
from ..errors import ConfigurationError, UsageError
from ..resources import find_model, meant_instances, require_endpoint, variant_name

SERVING_STATES = {"InService", "Updating", "SystemUpdating"}


@dataclass(frozen=True)
class EndpointTarget:
    name: str
    identity: str  # digest of what decides a result: name, model data, image, defaults
    output_path: str  # AsyncInferenceConfig.OutputConfig.S3OutputPath, ending in "/"
    failure_path: str | None
    parallelism: int  # jobs it runs at once: MaxConcurrentInvocationsPerInstance x instances
    notes: tuple[str, ...] = ()  # what the user should know before the jobs go
    # what matters only if a job is sent (not when every result is there already)
    sending_notes: tuple[str, ...] = ()
    # When this endpoint was made: a job sent before then went to one that was deleted since
    created: dt.datetime | None = None
    # Instances its variant is meant to have (DesiredInstanceCount, else CurrentInstanceCount):
    # an instance being replaced counts, since one starts again without autoscaling
    instances: int | None = None
    variant: str = "AllTraffic"
    notifies: bool = False  # it publishes each job's end to SNS (deployed --notify)
    languages: str | None = None  # its model's (model_languages.py); None: not recorded

    def locations(self, extension: str, filename: str) -> tuple[str, str | None]:
        """Where SageMaker writes a job's result and failure (the predicted keys; the
        response's OutputLocation confirms them)."""
        output = f"{self.output_path}{extension}/{filename}.out"
        failure = (
            f"{self.failure_path}{extension}/{filename}-error.out" if self.failure_path else None
        )
        return output, failure


def _with_slash(path: str | None) -> str | None:
    return None if not path else path if path.endswith("/") else path + "/"


def describe_target(clients: Clients) -> EndpointTarget:
    """The endpoint must exist, be asynchronous and serve."""
    name = clients.settings.endpoint
    described = require_endpoint(
        clients, name, "deploy it with `wasync deploy`, or pass --endpoint"
    )
    sagemaker = clients.client("sagemaker")
    config = sagemaker.describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])
    async_config = config.get("AsyncInferenceConfig")
    if not async_config:
        raise UsageError(
            f"Endpoint {name} is not an asynchronous endpoint.", "deploy it with `wasync deploy`"
        )
    if described["EndpointStatus"] not in SERVING_STATES:
        raise UsageError(
            f"Endpoint {name} is {described['EndpointStatus']}.", "see `wasync status`"
        )
    output = async_config.get("OutputConfig", {})
    variants = described.get("ProductionVariants") or [{}]
    instances = variants[0].get("CurrentInstanceCount")
    per_instance = async_config.get("ClientConfig", {}).get(
        "MaxConcurrentInvocationsPerInstance", 1
    )
    notes = []
    sending_notes = []
    if instances == 0:
        sending_notes.append(
            f"{name} is scaled to zero: the first result waits while an instance starts "
            "(minutes on AWS)"
        )
    if not output.get("S3FailurePath"):
        notes.append(
            f"{name} has no S3FailurePath: a failed job shows only as timed out "
            "(redeploy with `wasync deploy` to add one)"
        )
    model_name = (config.get("ProductionVariants") or [{}])[0].get("ModelName")
    model = find_model(clients, model_name) if model_name else None
    container = _container(model)
    return EndpointTarget(
        name=name,
        identity=_identity(name, container),
        output_path=_with_slash(output.get("S3OutputPath")) or "",
        failure_path=_with_slash(output.get("S3FailurePath")),
        parallelism=int(per_instance) * max(1, int(instances or 1)),
        notes=tuple(notes),
        sending_notes=tuple(sending_notes),
        notifies=bool(output.get("NotificationConfig")),
        created=created
        if isinstance(created := described.get("CreationTime"), dt.datetime)
        else None,
        instances=meant_instances(described),
        variant=variant_name(described),
        languages=model_languages.known(
            (container.get("Environment") or {}).get(model_languages.SETTING)
        ),
    )


def check_model_serves(target: EndpointTarget, options: Mapping[str, Any]) -> None:
    """Refuse a language or task the endpoint's English-only model cannot serve before any
    file is sent: the server would fail each job with the same reason, one by one."""
    if target.languages != model_languages.ENGLISH:
        return
    wanted = canonical_options(options)
    refused = model_languages.refusal(
        f"the model endpoint {target.name} serves",
        wanted.get("language"),
        wanted.get("task", "transcribe"),
    )
    if refused:
        raise UsageError(
            f"{refused}; nothing was sent.",
            "transcribe English (leave out --language and --task), or deploy a multilingual "
            "model: `wasync push-model base`, then `wasync deploy`",
        )


def check_work_can_start(clients: Clients, target: EndpointTarget) -> None:
    """At 0 instances only autoscaling from zero starts one (`wasync autoscale`); without it,
    jobs wait in the queue until their TTL, and `--wait` until its timeout."""
    if target.instances != 0:
        return
    from ..scaling import current

    try:
        scaling = current(clients, target.name, target.variant)
    except Exception:  # not allowed to read autoscaling (or not there): the note stands
        return
    if scaling is not None and scaling.scale_out_from_zero and scaling.max_capacity > 0:
        return
    raise ConfigurationError(
        f"Endpoint {target.name} has 0 instances and nothing will start one (it has no "
        "autoscaling from zero): the jobs would wait in its queue until their --request-ttl.",
        "run `wasync autoscale` to scale out from zero when work arrives, or "
        "`wasync deploy --initial-count 1` for an instance that stays",
    )


def _container(model: Mapping[str, Any] | None) -> Mapping[str, Any]:
    if model is None:
        return {}
    return model.get("PrimaryContainer") or (model.get("Containers") or [{}])[0]


def _identity(name: str, container: Mapping[str, Any]) -> str:
    """What a job's result depends on besides its input and options: the model's data and
    image and the deployment's request defaults (WASYNC_DEFAULT_*), not its instance type or
    concurrency. A redeploy of another model therefore starts new jobs."""
    facts: dict[str, Any] = {"endpoint": name}
    if container:
        facts["model"] = container.get("ModelDataUrl")
        facts["image"] = container.get("Image")
        facts["defaults"] = {
            k: v
            for k, v in (container.get("Environment") or {}).items()
            if k.startswith("WASYNC_DEFAULT_")
        }
    digest = hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()
    return f"{name}@{digest[:16]}"
