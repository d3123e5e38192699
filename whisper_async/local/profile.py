"""The `local` profile: point every client at a running local stack."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..settings import SERVICES, Settings

STACK_FILE = "stack.json"
LOCAL_REGION = "us-east-1"
LOCAL_ACCOUNT = "123456789012"
PLACEHOLDER_KEY = "wasync-local"  # moto accepts any credentials; these are not secrets

# botocore's environment variable names (AWS_ENDPOINT_URL_<service id>)
SERVICE_ENV_NAMES = {
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


def env_lines(stack: StackInfo) -> list[str]:
    """`export` lines that point wasync, the AWS CLI and any boto3 script at the stack."""
    lines = [
        f"export AWS_ENDPOINT_URL_{SERVICE_ENV_NAMES[s]}={u}"
        for s, u in sorted(stack.endpoint_urls().items())
    ]
    lines += [
        f"export AWS_ACCESS_KEY_ID={PLACEHOLDER_KEY}",
        f"export AWS_SECRET_ACCESS_KEY={PLACEHOLDER_KEY}",
        f"export AWS_DEFAULT_REGION={LOCAL_REGION}",
        "export AWS_REGION=" + LOCAL_REGION,
        "export WASYNC_PROFILE=local",
        f"export WASYNC_STATE_DIR={stack.state_dir}",
    ]
    return lines
