"""delete: the endpoint and everything wasync made for it; S3 data only when asked.

Planned first (reading only), so `delete --dry-run` lists what would go, and the confirmation
prompt can name it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from . import aws, capacity, naming, scaling
from .clients import Clients
from .jobs.ownership import Heartbeats, utc_now
from .plan import Plan, Step, deleted_names, execute
from .resources import (
    config_cleanup_plan,
    find_endpoint,
    managed_config_names,
    orphan_models_plan,
)
from .settings import time_scale

DELETE_BATCH = 1000  # DeleteObjects takes at most 1,000 keys
# Without a backlog datapoint, batches that beat this lately may still have jobs queued
RECENT_SENDING = dt.timedelta(minutes=10)


@dataclass(frozen=True)
class DeletePlan:
    endpoint: str
    steps: tuple[Step, ...]
    purge_objects: int
    # requests queued or running at the endpoint's latest backlog datapoint: deleting it
    # fails them, and their jobs must be sent again after the next deploy
    backlog: int = 0
    backlog_at: dt.datetime | None = None
    # batches that sent jobs to it after that datapoint (or lately, without one): CloudWatch's
    # minute figure comes minutes late, and a job sent seconds before a delete was lost unsaid
    sent_since: tuple[str, ...] = ()

    @property
    def plan(self) -> Plan:
        return Plan(self.steps)


@dataclass(frozen=True)
class DeleteResult:
    endpoint: str
    removed: tuple[str, ...]
    purged_objects: int


def plan_delete(clients: Clients, topics: bool = False, purge: bool = False) -> DeletePlan:
    endpoint = clients.settings.endpoint
    described = find_endpoint(clients, endpoint)
    variants = [
        str(v["VariantName"]) for v in (described or {}).get("ProductionVariants") or []
    ] or [naming.VARIANT]
    steps: list[Step] = []
    for variant in variants:
        steps += scaling.removal_steps(clients, endpoint, variant)
    if described is not None:
        steps.append(
            Step(
                "sagemaker",
                "delete_endpoint",
                {"EndpointName": endpoint},
                f"delete endpoint/{endpoint}",
                missing_ok=True,
            )
        )
    for config in managed_config_names(clients, endpoint):
        steps += config_cleanup_plan(clients, config).steps
    with_configs = {step.params["ModelName"] for step in steps if step.operation == "delete_model"}
    steps += orphan_models_plan(clients, endpoint, excluding=with_configs).steps
    if topics:
        steps += _topic_steps(clients, endpoint)
    purge_steps, count = _purge_steps(clients, endpoint) if purge else ([], 0)
    point = None
    sent_since: list[str] = []
    if described is not None:
        scale = time_scale(clients.settings)
        created = described.get("CreationTime")
        point = capacity.latest_point(clients, endpoint, "ApproximateBacklogSize", scale, created)
        since = point["Timestamp"] if point else utc_now() - RECENT_SENDING / scale
        heartbeats = Heartbeats(clients.client("s3"), clients.bucket, clients.prefix)
        sent_since = heartbeats.sending_to(endpoint, since)
    return DeletePlan(
        endpoint,
        tuple(steps + purge_steps),
        count,
        backlog=round(point["Average"]) if point else 0,
        backlog_at=point["Timestamp"] if point else None,
        sent_since=tuple(sent_since),
    )


def delete(clients: Clients, plan: DeletePlan) -> DeleteResult:
    execute(clients, plan.plan)
    return DeleteResult(plan.endpoint, deleted_names(plan.steps), plan.purge_objects)


def delete_endpoint(clients: Clients, topics: bool = False, purge: bool = False) -> DeleteResult:
    """Plan and delete in one go."""
    return delete(clients, plan_delete(clients, topics, purge))


def _topic_steps(clients: Clients, endpoint: str) -> list[Step]:
    sns = clients.client("sns")
    steps = []
    for name in naming.topic_names(endpoint):
        arn = clients.arn("sns", name)
        if aws.find(sns.get_topic_attributes, TopicArn=arn) is not None:
            steps.append(
                Step("sns", "delete_topic", {"TopicArn": arn}, f"delete topic/{name}", True)
            )
    return steps


def _purge_steps(clients: Clients, endpoint: str) -> tuple[list[Step], int]:
    """Delete this endpoint's outputs and failure objects. Inputs and job records are shared
    between endpoints and stay."""
    s3 = clients.client("s3")
    bucket = clients.bucket
    if aws.find(s3.head_bucket, Bucket=bucket) is None:
        return [], 0
    steps = []
    count = 0
    for prefix in (
        naming.output_prefix(clients.prefix, endpoint),
        naming.failure_prefix(clients.prefix, endpoint),
    ):
        keys = [
            item["Key"]
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for item in page.get("Contents", [])
        ]
        for start in range(0, len(keys), DELETE_BATCH):
            batch = keys[start : start + DELETE_BATCH]
            steps.append(
                Step(
                    "s3",
                    "delete_objects",
                    {
                        "Bucket": bucket,
                        "Delete": {"Objects": [{"Key": k} for k in batch], "Quiet": True},
                    },
                    f"purge {len(batch)} objects under s3://{bucket}/{prefix}",
                )
            )
        count += len(keys)
    return steps, count
