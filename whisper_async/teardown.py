"""delete: the endpoint and everything wasync made for it; S3 data only when asked."""

from __future__ import annotations

from dataclasses import dataclass

from . import naming, scaling
from .clients import Clients
from .endpoint import delete_config_and_models, describe, managed_config_names
from .errors import error_code


@dataclass(frozen=True)
class DeleteResult:
    endpoint: str
    removed: tuple[str, ...]
    purged_objects: int


def delete_endpoint(clients: Clients, topics: bool = False, purge: bool = False) -> DeleteResult:
    endpoint = clients.settings.endpoint
    sagemaker = clients.client("sagemaker")
    removed: list[str] = list(scaling.disable(clients, endpoint))
    described = describe(clients, endpoint)
    if described is not None:
        sagemaker.delete_endpoint(EndpointName=endpoint)
        removed.append(f"endpoint/{endpoint}")
    for config in managed_config_names(clients, endpoint):
        removed += delete_config_and_models(clients, config)
    if topics:
        removed += _delete_topics(clients, endpoint)
    purged = _purge(clients, endpoint) if purge else 0
    return DeleteResult(endpoint, tuple(removed), purged)


def _delete_topics(clients: Clients, endpoint: str) -> list[str]:
    sns = clients.client("sns")
    wanted = set(naming.topic_names(endpoint))
    removed = []
    for page in sns.get_paginator("list_topics").paginate():
        for topic in page.get("Topics", []):
            arn = topic["TopicArn"]
            if arn.rsplit(":", 1)[-1] in wanted:
                sns.delete_topic(TopicArn=arn)
                removed.append(f"topic/{arn.rsplit(':', 1)[-1]}")
    return removed


def _purge(clients: Clients, endpoint: str) -> int:
    """Delete this endpoint's outputs and failure objects. Inputs and job records are shared
    between endpoints and stay."""
    s3 = clients.client("s3")
    count = 0
    try:
        s3.head_bucket(Bucket=clients.bucket)
    except Exception as exc:
        if error_code(exc) in {"404", "NoSuchBucket", "NotFound"}:
            return 0
        raise
    for prefix in (
        naming.output_prefix(clients.prefix, endpoint),
        naming.failure_prefix(clients.prefix, endpoint),
    ):
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=clients.bucket, Prefix=prefix
        ):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                s3.delete_objects(Bucket=clients.bucket, Delete={"Objects": keys, "Quiet": True})
                count += len(keys)
    return count
