"""Resolve every setting in one place: flag > WASYNC_* environment > config file > default."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import tomllib

from .errors import ConfigurationError

# name -> (environment variable, default)
FIELDS: dict[str, tuple[str, str | None]] = {
    "profile": ("WASYNC_PROFILE", "aws"),
    "region": ("WASYNC_REGION", None),
    "aws_profile": ("WASYNC_AWS_PROFILE", None),
    "endpoint": ("WASYNC_ENDPOINT", "whisper"),
    "bucket": ("WASYNC_BUCKET", None),
    "prefix": ("WASYNC_PREFIX", "wasync/"),
    "role_arn": ("WASYNC_ROLE_ARN", None),
    "image_uri": ("WASYNC_IMAGE_URI", None),
    "state_dir": ("WASYNC_STATE_DIR", None),
}

# Every service wasync calls -> its name in environment variables: botocore's service id, as
# in AWS_ENDPOINT_URL_<NAME>; WASYNC_ENDPOINT_URL_<NAME> uses the same names.
SERVICE_ENV_NAMES: dict[str, str] = {
    "s3": "S3",
    "sts": "STS",
    "iam": "IAM",
    "ecr": "ECR",
    "sns": "SNS",
    "sqs": "SQS",
    "cloudwatch": "CLOUDWATCH",
    "logs": "CLOUDWATCH_LOGS",
    "application-autoscaling": "APPLICATION_AUTO_SCALING",
    "sagemaker": "SAGEMAKER",
    "sagemaker-runtime": "SAGEMAKER_RUNTIME",
}
SERVICES = tuple(SERVICE_ENV_NAMES)


def default_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "wasync" / "config.toml"


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "wasync"


@dataclass(frozen=True)
class Settings:
    profile: str = "aws"
    region: str | None = None
    aws_profile: str | None = None
    endpoint: str = "whisper"
    bucket: str | None = None
    prefix: str = "wasync/"
    role_arn: str | None = None
    image_uri: str | None = None
    state_dir: Path = field(default_factory=default_state_dir)
    endpoint_urls: Mapping[str, str] = field(default_factory=dict)
    sources: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_local(self) -> bool:
        return self.profile == "local"

    def with_values(self, **values: Any) -> Settings:
        return replace(self, **values)


def load_config_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except (tomllib.TOMLDecodeError, OSError) as exc:
        raise ConfigurationError(
            f"Cannot read config file {path}: {exc}", "fix the TOML syntax or pass --config"
        ) from exc


def resolve(
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    config_path: Path | None = None,
) -> Settings:
    """Build Settings, recording for each value where it came from."""
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    environ = os.environ if environ is None else environ
    explicit_path = config_path or (
        Path(environ["WASYNC_CONFIG"]) if "WASYNC_CONFIG" in environ else None
    )
    path = explicit_path or default_config_path()
    if explicit_path and not explicit_path.is_file():
        raise ConfigurationError(f"Config file {explicit_path} does not exist.", "check --config")
    file_values = load_config_file(path)
    unknown = set(file_values) - set(FIELDS) - {"endpoint_urls"}
    if unknown:
        raise ConfigurationError(
            f"Unknown key(s) in {path}: {', '.join(sorted(unknown))}",
            f"allowed keys: {', '.join(sorted(FIELDS))}, endpoint_urls",
        )

    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, (env_var, default) in FIELDS.items():
        if name in flags:
            values[name], sources[name] = flags[name], "flag"
        elif environ.get(env_var):
            values[name], sources[name] = environ[env_var], f"env {env_var}"
        elif name in file_values:
            values[name], sources[name] = str(file_values[name]), f"file {path}"
        else:
            values[name], sources[name] = default, "default"

    if values["region"] is None:
        for env_var in ("AWS_REGION", "AWS_DEFAULT_REGION"):
            if environ.get(env_var):
                values["region"], sources["region"] = environ[env_var], f"env {env_var}"
                break

    values["prefix"] = normalise_prefix(values["prefix"])
    values["state_dir"] = (
        Path(values["state_dir"]).expanduser() if values["state_dir"] else default_state_dir()
    )
    if values["profile"] not in {"aws", "local"}:
        raise ConfigurationError(
            f"Unknown profile {values['profile']!r}.", "use `aws` (the default) or `local`"
        )

    urls: dict[str, str] = {
        str(k): str(v) for k, v in dict(file_values.get("endpoint_urls", {})).items()
    }
    for service, env_name in SERVICE_ENV_NAMES.items():
        url = environ.get(f"WASYNC_ENDPOINT_URL_{env_name}")
        if url:
            urls[service] = url
    if values["profile"] == "local":
        return apply_local_profile(Settings(**values, endpoint_urls=urls, sources=sources))
    return Settings(**values, endpoint_urls=urls, sources=sources)


# The local profile: a stack started by `wasync local up` records its URLs in stack.json.
STACK_FILE = "stack.json"
LOCAL_REGION = "us-east-1"
PLACEHOLDER_KEY = "wasync-local"  # moto accepts any credentials; these are not secrets


@dataclass(frozen=True)
class StackInfo:
    pid: int
    moto_url: str
    sagemaker_url: str
    state_dir: Path

    def endpoint_urls(self) -> dict[str, str]:
        urls = {service: self.moto_url for service in SERVICES}
        urls["sagemaker"] = urls["sagemaker-runtime"] = self.sagemaker_url
        return urls


def read_stack(state_dir: Path) -> StackInfo | None:
    try:
        data: dict[str, Any] = json.loads((state_dir / STACK_FILE).read_text())
        return StackInfo(
            int(data["pid"]), str(data["moto_url"]), str(data["sagemaker_url"]), state_dir
        )
    except (OSError, ValueError, KeyError):
        return None


def apply_local_profile(settings: Settings) -> Settings:
    """Fill in the stack's URLs and region; explicit per-service URLs still win."""
    stack = read_stack(settings.state_dir)
    urls = {**(stack.endpoint_urls() if stack else {}), **settings.endpoint_urls}
    sources = dict(settings.sources)
    region = settings.region
    if region is None:
        region, sources["region"] = LOCAL_REGION, "local profile"
    return settings.with_values(region=region, endpoint_urls=urls, sources=sources)


def normalise_prefix(prefix: str) -> str:
    prefix = prefix.strip("/")
    return f"{prefix}/" if prefix else ""
