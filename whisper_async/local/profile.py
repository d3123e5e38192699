"""The `local` profile: point every client at a running local stack."""

from __future__ import annotations

import shlex

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
    "env_variables",
    "export_lines",
    "read_stack",
]

LOCAL_ACCOUNT = "123456789012"


def env_variables(stack: StackInfo) -> dict[str, str]:
    """The variables that point wasync, the AWS CLI, any boto3 script and the SageMaker
    Python SDK at the stack."""
    variables = {
        f"AWS_ENDPOINT_URL_{SERVICE_ENV_NAMES[s]}": u
        for s, u in sorted(stack.endpoint_urls().items())
    }
    return {
        **variables,
        "AWS_ACCESS_KEY_ID": PLACEHOLDER_KEY,
        "AWS_SECRET_ACCESS_KEY": PLACEHOLDER_KEY,
        "AWS_DEFAULT_REGION": LOCAL_REGION,
        "AWS_REGION": LOCAL_REGION,
        "WASYNC_PROFILE": "local",
        "WASYNC_STATE_DIR": str(stack.state_dir),
        SDK_CONFIG_ENV: str(stack.state_dir / SDK_CONFIG_FILE),
    }


def export_lines(variables: dict[str, str]) -> list[str]:
    """`export` lines for a shell's eval, each value quoted: a state folder named `a b` or
    `$(cmd)` must stay one value and run nothing."""
    return [f"export {name}={shlex.quote(value)}" for name, value in variables.items()]
