"""The `local` profile: point every client at a running local stack."""

from __future__ import annotations

from ..settings import (
    LOCAL_REGION,
    PLACEHOLDER_KEY,
    SERVICE_ENV_NAMES,
    STACK_FILE,
    StackInfo,
    read_stack,
)
from .sdkconfig import SDK_CONFIG_ENV, SDK_CONFIG_FILE

__all__ = [
    "LOCAL_REGION",
    "PLACEHOLDER_KEY",
    "STACK_FILE",
    "StackInfo",
    "env_lines",
    "read_stack",
]

LOCAL_ACCOUNT = "123456789012"


def env_lines(stack: StackInfo) -> list[str]:
    """`export` lines that point wasync, the AWS CLI, any boto3 script and the SageMaker
    Python SDK at the stack."""
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
        f"export {SDK_CONFIG_ENV}={stack.state_dir / SDK_CONFIG_FILE}",
    ]
    return lines
