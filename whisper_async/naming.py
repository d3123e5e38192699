"""Names and tags of the AWS resources wasync creates, in one place."""

from __future__ import annotations

import datetime as dt
import secrets

MANAGED_TAG = {"Key": "managed-by", "Value": "wasync"}
VARIANT = "AllTraffic"


def tags(endpoint: str) -> list[dict[str, str]]:
    return [MANAGED_TAG, {"Key": "wasync-endpoint", "Value": endpoint}]


def unique_name(endpoint: str, now: dt.datetime | None = None) -> str:
    """`{endpoint}-{UTC time}-{random}`: unique, sortable, within SageMaker's 63 characters."""
    now = now or dt.datetime.now(dt.timezone.utc)
    return f"{endpoint[:38]}-{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def topic_names(endpoint: str) -> tuple[str, str]:
    return f"wasync-{endpoint}-success", f"wasync-{endpoint}-error"


# Every object wasync reads or writes lies in one of these folders under the configured prefix,
# so the IAM documents name them instead of the prefix: with `--prefix ""` a grant on
# `{prefix}*` would be the whole bucket, which other tools may share.
FOLDERS = ("models", "inputs", "outputs", "failures", "jobs", "batches")
USER_WRITES = ("models", "inputs", "jobs", "batches")  # outputs and failures: the endpoint's
USER_DELETES = ("outputs", "failures", "jobs")  # `delete --purge`; a claim never acted on


def output_prefix(prefix: str, endpoint: str) -> str:
    return f"{prefix}outputs/{endpoint}/"


def failure_prefix(prefix: str, endpoint: str) -> str:
    return f"{prefix}failures/{endpoint}/"


def result_paths(bucket: str, prefix: str, endpoint: str) -> tuple[str, str]:
    """The S3OutputPath and S3FailurePath wasync deploys an endpoint with."""
    return (
        f"s3://{bucket}/{output_prefix(prefix, endpoint)}",
        f"s3://{bucket}/{failure_prefix(prefix, endpoint)}",
    )


def arn(partition: str, service: str, region: str, account: str, resource: str) -> str:
    return f"arn:{partition}:{service}:{region}:{account}:{resource}"


def partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def scaling_resource_id(endpoint: str, variant: str) -> str:
    """Application Auto Scaling's id for an endpoint variant (read the variant's name from
    DescribeEndpoint: endpoints made by other tools rarely call it AllTraffic)."""
    return f"endpoint/{endpoint}/variant/{variant}"


def target_policy_name(endpoint: str) -> str:
    return f"wasync-{endpoint}-backlog-per-instance"


def scale_out_from_zero_name(endpoint: str) -> str:
    """The step scaling policy and the CloudWatch alarm that triggers it share this name."""
    return f"wasync-{endpoint}-scale-out-from-zero"


def log_group(endpoint: str) -> str:
    return f"/aws/sagemaker/Endpoints/{endpoint}"


REPOSITORY = "wasync"
ROLE_NAME = "wasync-sagemaker-execution"
# what the local stack's endpoints name as their role: it checks no IAM
LOCAL_ROLE = "arn:aws:iam::123456789012:role/wasync-local"
