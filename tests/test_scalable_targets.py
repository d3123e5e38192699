"""Application Auto Scaling on the local stack refuses a variant that does not exist, as AWS
does (moto alone accepts any resource id); real variants register as before."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from whisper_async.local.scalabletargets import missing_variant

DIMENSION = "sagemaker:variant:DesiredInstanceCount"


def register(client, resource_id: str) -> dict:  # type: ignore[no-untyped-def]
    return dict(
        client.register_scalable_target(
            ServiceNamespace="sagemaker",
            ResourceId=resource_id,
            ScalableDimension=DIMENSION,
            MinCapacity=0,
            MaxCapacity=2,
        )
    )


def registered(client, resource_id: str) -> list:  # type: ignore[no-untyped-def]
    return list(
        client.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[resource_id])[
            "ScalableTargets"
        ]
    )


@pytest.mark.slow
def test_a_variant_the_endpoint_lacks_is_refused_and_nothing_is_registered(
    local_stack, own_endpoint: str
) -> None:
    client = local_stack.boto3_client("application-autoscaling")
    wrong = f"endpoint/{own_endpoint}/variant/variant1"  # wasync's endpoints call it AllTraffic
    with pytest.raises(ClientError) as refused:
        register(client, wrong)
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    message = refused.value.response["Error"]["Message"]
    assert "'variant1'" in message and "AllTraffic" in message
    assert registered(client, wrong) == []

    nowhere = "endpoint/never-made/variant/AllTraffic"
    with pytest.raises(ClientError) as missing:
        register(client, nowhere)
    assert missing.value.response["Error"]["Code"] == "ValidationException"
    assert "'never-made' does not exist" in missing.value.response["Error"]["Message"]

    right = f"endpoint/{own_endpoint}/variant/AllTraffic"
    try:
        assert register(client, right)["ScalableTargetARN"]
        assert [t["MaxCapacity"] for t in registered(client, right)] == [2]
    finally:
        client.deregister_scalable_target(
            ServiceNamespace="sagemaker", ResourceId=right, ScalableDimension=DIMENSION
        )


def test_only_sagemaker_variant_targets_are_checked() -> None:
    def no_endpoints(endpoint: str) -> None:
        return None

    assert missing_variant("ecs", "service/c/s", "ecs:service:DesiredCount", no_endpoints) is None
    assert (
        missing_variant(
            "sagemaker",
            "inference-component/x",
            "sagemaker:inference-component:DesiredCopyCount",
            no_endpoints,
        )
        is None
    )
    reason = missing_variant("sagemaker", "endpoint/e/variant/v", DIMENSION, lambda e: ["a", "b"])
    assert reason and "'e' has no variant 'v'" in reason and "a, b" in reason
