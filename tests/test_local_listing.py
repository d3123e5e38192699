"""The local stack's List operations filter, sort and page as SageMaker's do: a monitoring
script's `list-endpoints --status-equals Failed` listed every endpoint."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.slow
ROLE = "arn:aws:iam::123456789012:role/wasync-listing"


def test_models_are_sorted_filtered_and_paged(local_stack: Any) -> None:
    client = local_stack.boto3_client("sagemaker")
    names = ["listing-b", "listing-a", "listing-c"]  # created in this order
    container = {"Image": "example/wasync:1", "ModelDataUrl": "s3://b/listing/model.tar.gz"}
    before = dt.datetime.now(dt.timezone.utc)
    for name in names:
        client.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer=container)
    try:
        newest_first = client.list_models(NameContains="listing-")["Models"]
        assert [m["ModelName"] for m in newest_first] == names[::-1]
        by_name = client.list_models(NameContains="listing-", SortBy="Name", SortOrder="Ascending")
        assert [m["ModelName"] for m in by_name["Models"]] == sorted(names)
        first = client.list_models(NameContains="listing-", MaxResults=2)
        assert len(first["Models"]) == 2 and first["NextToken"]
        rest = client.list_models(
            NameContains="listing-", MaxResults=2, NextToken=first["NextToken"]
        )
        assert [m["ModelName"] for m in rest["Models"]] == [names[0]] and "NextToken" not in rest
        later = before + dt.timedelta(days=1)
        assert client.list_models(NameContains="listing-", CreationTimeAfter=later)["Models"] == []
        earlier = client.list_models(NameContains="listing-", CreationTimeBefore=before)
        assert earlier["Models"] == []
    finally:
        for name in names:
            client.delete_model(ModelName=name)


def test_endpoints_are_filtered_by_status_and_a_bad_status_is_refused(local_stack: Any) -> None:
    client = local_stack.boto3_client("sagemaker")
    every = client.list_endpoints(MaxResults=100)["Endpoints"]
    for status in ("InService", "Failed"):
        kept = client.list_endpoints(StatusEquals=status, MaxResults=100)["Endpoints"]
        assert kept == [e for e in every if e["EndpointStatus"] == status]
    with pytest.raises(ClientError) as refused:
        client.list_endpoints(StatusEquals="Bogus")
    assert "Member must satisfy enum value set" in str(refused.value)
    for not_handed_out in ("not-a-token", "01", "\u00b2"):
        with pytest.raises(ClientError, match="Invalid NextToken"):
            client.list_endpoints(NextToken=not_handed_out)
