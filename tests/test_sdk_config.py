"""`wasync local env` points the SageMaker Python SDK at the stack's bucket (without the SDK:
the SDK tier, tests/test_sdk.py, checks that the SDK itself reads it)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from whisper_async.clients import Clients
from whisper_async.settings import resolve


@pytest.mark.slow
def test_local_env_names_an_sdk_config_with_the_bucket_wasync_uses(local_stack) -> None:
    path = Path(local_stack.env["SAGEMAKER_USER_CONFIG_OVERRIDE"])
    assert path.parent == local_stack.state_dir.resolve()
    bucket = Clients(resolve({}, local_stack.env)).bucket
    assert yaml.safe_load(path.read_text()) == {
        "SchemaVersion": "1.0",
        "SageMaker": {"PythonSDK": {"Modules": {"Session": {"DefaultS3Bucket": bucket}}}},
    }
