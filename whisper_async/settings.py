"""Resolve every setting in one place: flag > WASYNC_* environment > config file > default."""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .config_file import read_config
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


# botocore's own rules (a DNS host label; a URL with a scheme and a host), checked here so that a
# bad value is a configuration error naming its source, not a ValueError from inside botocore.
REGION_PATTERN = re.compile(r"^(?![0-9]+$)(?!-)[a-zA-Z0-9-]{1,63}(?<!-)$")
UNSAFE_URL_CHARACTERS = frozenset("\t\r\n ")


def check_region(region: str | None, source: str) -> None:
    if region is not None and not REGION_PATTERN.fullmatch(region):
        raise ConfigurationError(
            f"Region {region!r} (from {source}) is not a region name.",
            "use a region code such as eu-west-1",
        )


# In an IAM document `*` and `?` are wildcards and `${` starts a policy variable: a prefix that
# held one would grant more than its own folders.
IAM_SPECIAL = ("*", "?", "$")


def check_prefix(prefix: str, source: str) -> None:
    if any(character in prefix for character in IAM_SPECIAL):
        raise ConfigurationError(
            f"Prefix {prefix!r} (from {source}) holds *, ? or $, which IAM policies read as "
            "wildcards or variables.",
            "use letters, digits, '-', '_', '.' and '/'",
        )
    if {".", ".."} & set(prefix.split("/")):
        # S3 keeps `../jobs/...` as it is, but a download of it (`aws s3 sync`) leaves the folder
        raise ConfigurationError(
            f"Prefix {prefix!r} (from {source}) holds a '.' or '..' folder.",
            "name the folders, e.g. wasync/ or team/wasync/",
        )


# SageMaker's EndpointName (botocore's service model): a typo was AWS's ValidationException, exit 1
ENDPOINT_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")


def check_endpoint_name(name: str, source: str) -> None:
    if len(name) > 63 or not ENDPOINT_NAME.fullmatch(name):  # the pattern counts no hyphens
        raise ConfigurationError(
            f"Endpoint name {name!r} (from {source}) is not one SageMaker accepts.",
            "use up to 63 letters, digits and hyphens, starting and ending with a letter or digit",
        )


def check_endpoint_url(service: str, url: str, source: str) -> None:
    problem = None
    if UNSAFE_URL_CHARACTERS.intersection(url):
        problem = "it holds whitespace"
    else:
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - parsing the port is the check: it raises when it is not a number
        except ValueError as exc:
            problem = str(exc)
        else:
            if parts.scheme not in {"http", "https"}:
                problem = "it does not start with http:// or https://"
            elif not parts.hostname:
                problem = "it names no host"
    if problem:
        raise ConfigurationError(
            f"Endpoint URL {url!r} for {service} (from {source}) is not a URL: {problem}.",
            "write it as http://HOST[:PORT] or https://HOST[:PORT]",
        )


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
    file_values = read_config(path, explicit_path is not None, FIELDS, SERVICES)

    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, (env_var, default) in FIELDS.items():
        if name in flags:
            values[name], sources[name] = flags[name], "flag"
        elif environ.get(env_var):
            values[name], sources[name] = environ[env_var], f"env {env_var}"
        elif name in file_values:
            values[name], sources[name] = file_values[name], f"file {path}"
        else:
            values[name], sources[name] = default, "default"

    if values["region"] is None:
        for env_var in ("AWS_REGION", "AWS_DEFAULT_REGION"):
            if environ.get(env_var):
                values["region"], sources["region"] = environ[env_var], f"env {env_var}"
                break

    check_region(values["region"], sources["region"])
    check_prefix(values["prefix"], sources["prefix"])
    check_endpoint_name(values["endpoint"], sources["endpoint"])
    values["prefix"] = normalise_prefix(values["prefix"])
    values["state_dir"] = (
        Path(values["state_dir"]).expanduser() if values["state_dir"] else default_state_dir()
    )
    if values["profile"] not in {"aws", "local"}:
        raise ConfigurationError(
            f"Unknown profile {values['profile']!r}.", "use `aws` (the default) or `local`"
        )

    urls: dict[str, str] = {}
    for service, url in file_values.get("endpoint_urls", {}).items():
        check_endpoint_url(service, url, f"file {path}")
        urls[service], sources[url_source(service)] = url, f"file {path}"
    for service, env_name in SERVICE_ENV_NAMES.items():
        env_var = f"WASYNC_ENDPOINT_URL_{env_name}"
        url = environ.get(env_var)
        if url:
            check_endpoint_url(service, url, f"env {env_var}")
            urls[service], sources[url_source(service)] = url, f"env {env_var}"
    if values["profile"] == "local":
        local = Settings(**values, endpoint_urls=urls, sources=sources)
        return apply_local_profile(local, environ)
    return Settings(**values, endpoint_urls=urls, sources=sources)


def url_source(service: str) -> str:
    """The key of a service's endpoint URL in `Settings.sources`."""
    return f"endpoint_url.{service}"


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
    time_scale: float = 1.0  # AWS seconds per second of the stack (`local up --time-scale`)

    def endpoint_urls(self) -> dict[str, str]:
        urls = {service: self.moto_url for service in SERVICES}
        urls["sagemaker"] = urls["sagemaker-runtime"] = self.sagemaker_url
        return urls


def read_stack(state_dir: Path) -> StackInfo | None:
    """The stack stack.json describes; None when there is none, or the file is not one that
    a stack wrote (treated as stale: `local up` replaces it)."""
    try:
        data: dict[str, Any] = json.loads((state_dir / STACK_FILE).read_text())
        stack = StackInfo(
            int(data["pid"]),
            str(data["moto_url"]),
            str(data["sagemaker_url"]),
            state_dir,
            float(data.get("time_scale", 1.0)),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError, OverflowError):
        return None
    if stack.pid <= 0 or not (math.isfinite(stack.time_scale) and stack.time_scale > 0):
        return None
    return stack


def stale_exports(stack: StackInfo, environ: Mapping[str, str] | None = None) -> list[str]:
    """The AWS_ENDPOINT_URL_* variables that point somewhere other than this stack: exported
    for an earlier one (`local down`, then `local up` picks new ports). wasync reads the stack's
    URLs from its state dir, but the AWS CLI, boto3 scripts and the SDK follow the variables."""
    environ = os.environ if environ is None else environ
    return [
        name
        for service, url in sorted(stack.endpoint_urls().items())
        if (name := f"AWS_ENDPOINT_URL_{SERVICE_ENV_NAMES[service]}") in environ
        and environ[name].rstrip("/") != url.rstrip("/")
    ]


def time_scale(settings: Settings) -> float:
    """AWS seconds per second of the clock the endpoint runs on: 1 on AWS; under the local
    profile, the running stack's `--time-scale`."""
    stack = read_stack(settings.state_dir) if settings.is_local else None
    return stack.time_scale if stack else 1.0


def apply_local_profile(settings: Settings, environ: Mapping[str, str] | None = None) -> Settings:
    """Fill in the stack's URLs and region; explicit per-service URLs still win. With no stack
    recorded in this state dir (another state dir, the same stack), the AWS_ENDPOINT_URL_*
    variables `wasync local env` exported are the stack's, as the AWS CLI takes them."""
    environ = os.environ if environ is None else environ
    if settings.sources.get("aws_profile") == "flag":  # from env or a file: a standing default
        raise ConfigurationError(
            f"--aws-profile {settings.aws_profile} names AWS credentials, and the local stack"
            " takes none.",
            "drop --aws-profile to use the local stack, or drop --local (and"
            " WASYNC_PROFILE=local) to use AWS",
        )
    stack = read_stack(settings.state_dir)
    if stack is not None:
        from_stack = stack.endpoint_urls()
        origin = {s: f"local stack ({settings.state_dir / STACK_FILE})" for s in from_stack}
    else:
        exported = {s: f"AWS_ENDPOINT_URL_{name}" for s, name in SERVICE_ENV_NAMES.items()}
        from_stack = {s: environ[v] for s, v in exported.items() if environ.get(v)}
        origin = {s: f"env {exported[s]}" for s in from_stack}
        for service, url in from_stack.items():
            check_endpoint_url(service, url, origin[service])
    urls = {**from_stack, **settings.endpoint_urls}
    sources = {url_source(service): origin[service] for service in from_stack}
    sources.update(settings.sources)  # explicit URLs keep their own source
    region, source = settings.region, sources.get("region", "flag")
    if region is None or source not in {"flag", f"env {FIELDS['region'][0]}"}:
        # AWS_REGION or a config file's region is a standing default for AWS, not for the stack
        region, sources["region"] = LOCAL_REGION, "local profile"
    else:
        check_local_region(region, source)
    return settings.with_values(region=region, endpoint_urls=urls, sources=sources)


def check_local_region(region: str, source: str) -> None:
    """The stack serves one region: its scaler and alarms run there, so an endpoint made in
    another looked served while nothing scaled it (and moto answers a region botocore does not
    know with a 500 after retries)."""
    if region != LOCAL_REGION:
        raise ConfigurationError(
            f"Region {region!r} (from {source}) is not one the local stack serves: it serves "
            f"{LOCAL_REGION} only.",
            f"leave the region unset with the local stack, or pass --region {LOCAL_REGION}",
        )


def normalise_prefix(prefix: str) -> str:
    prefix = prefix.strip("/")
    return f"{prefix}/" if prefix else ""
