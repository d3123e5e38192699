"""The SageMaker Python SDK pointed at the local stack: a config file with its default bucket.

The SDK finds its default bucket through STS (`Session.default_bucket()` asks for the account
id), and builds that STS client with a fixed regional endpoint, so `AWS_ENDPOINT_URL_STS`
does not reach the stack. Its config file can name the bucket instead
(`SageMaker.PythonSDK.Modules.Session.DefaultS3Bucket`, read from the path in
`SAGEMAKER_USER_CONFIG_OVERRIDE`), and then the SDK never asks STS. `wasync local env` exports
that variable; the stack writes the file when it starts. The bucket is the one wasync uses
too, `sagemaker-{region}-{account}`; the SDK creates it on first use if it does not exist.
"""

from __future__ import annotations

from pathlib import Path

from ..files import write_atomically

SDK_CONFIG_FILE = "sagemaker-sdk-config.yaml"
SDK_CONFIG_ENV = "SAGEMAKER_USER_CONFIG_OVERRIDE"


def default_bucket(region: str, account: str) -> str:
    """The SDK's own default bucket name, which wasync uses too."""
    return f"sagemaker-{region}-{account}"


def config_text(bucket: str) -> str:
    """The SDK's config file (its YAML schema, version 1.0) with only the default bucket."""
    return (
        "# Written by `wasync local up`: the SageMaker Python SDK's defaults for the local stack.\n"
        "SchemaVersion: '1.0'\n"
        "SageMaker:\n"
        "  PythonSDK:\n"
        "    Modules:\n"
        "      Session:\n"
        f"        DefaultS3Bucket: '{bucket}'\n"
    )


def write_sdk_config(state_dir: Path, bucket: str) -> Path:
    path = state_dir / SDK_CONFIG_FILE
    write_atomically(path, config_text(bucket))
    return path
