"""The local stack's control plane refuses what SageMaker refuses, with AWS's errors (an
attack trial's findings): not a 500 that botocore retries, not a resource that breaks others."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from whisper_async.local.deployment import DEFAULT_MAX_INSTANCES

pytestmark = pytest.mark.slow
ROLE = "arn:aws:iam::123456789012:role/wasync-control"
CONTAINER = {"Image": "example/wasync:1", "ModelDataUrl": "s3://b/control/model.tar.gz"}


def raw_call(client: Any, operation: str, body: str) -> httpx.Response:
    """A JSON 1.1 request as a hand-written client sends it: boto3 sends NaN as a string."""
    return httpx.post(
        client.meta.endpoint_url,
        content=body,
        headers={
            "X-Amz-Target": f"SageMaker.{operation}",
            "Content-Type": "application/x-amz-json-1.1",
        },
        timeout=30,
    )


def test_names_differing_only_in_case_are_one_name(local_stack: Any) -> None:
    """`Standin` next to `standin` shared its ARN, and deleting one lost the other's tags."""
    client = local_stack.boto3_client("sagemaker")
    client.create_model(ModelName="case-model", ExecutionRoleArn=ROLE, PrimaryContainer=CONTAINER)
    try:
        with pytest.raises(ClientError, match="Cannot create already existing model"):
            client.create_model(
                ModelName="Case-Model", ExecutionRoleArn=ROLE, PrimaryContainer=CONTAINER
            )
        arn = client.describe_model(ModelName="case-model")["ModelArn"]
        assert client.list_tags(ResourceArn=arn)["Tags"] == []
    finally:
        client.delete_model(ModelName="case-model")


def test_values_json_or_the_service_model_refuses_are_a_validation_error(
    local_stack: Any,
) -> None:
    client = local_stack.boto3_client("sagemaker")
    client.create_model(ModelName="odd-values", ExecutionRoleArn=ROLE, PrimaryContainer=CONTAINER)
    variant = {"VariantName": "v", "ModelName": "odd-values", "InstanceType": "ml.m5.large"}
    try:
        for name, odd in (("nan-weight", "NaN"), ("bool-count", "true")):
            field = "InitialVariantWeight" if name == "nan-weight" else "InitialInstanceCount"
            body = json.dumps({"EndpointConfigName": name, "ProductionVariants": [variant]})
            body = body.replace('"v",', f'"v", "{field}": {odd},')
            answer = raw_call(client, "CreateEndpointConfig", body)
            assert answer.status_code == 400, answer.text
            assert answer.json()["__type"] == "ValidationException"
            with pytest.raises(ClientError, match="Could not find endpoint configuration"):
                client.describe_endpoint_config(EndpointConfigName=name)
        https = {"S3OutputPath": "https://b.s3.amazonaws.com/out"}
        quoted_as_sent = re.escape("'https://b.s3.amazonaws.com/out': the local stack takes")
        with pytest.raises(ClientError, match=quoted_as_sent):
            client.create_endpoint_config(
                EndpointConfigName="https-output",
                ProductionVariants=[{**variant, "InitialInstanceCount": 1}],
                AsyncInferenceConfig={"OutputConfig": https},
            )
    finally:
        client.delete_model(ModelName="odd-values")
    runtime = local_stack.boto3_client("sagemaker-runtime")
    for location in ("s3://bucket-only", "https://b.s3.amazonaws.com/in/a.wav"):
        with pytest.raises(ClientError) as refused:  # a 500 before, retried by botocore
            runtime.invoke_endpoint_async(EndpointName="any", InputLocation=location)
        assert refused.value.response["Error"]["Code"] == "ValidationError"  # the runtime's


@pytest.mark.parametrize(
    ("count", "said"),
    [
        # Each instance is a process here: a count of 10,000 forked until memory ran out.
        (DEFAULT_MAX_INSTANCES + 1, "WASYNC_LOCAL_MAX_INSTANCES"),
        # It held per endpoint: three endpoints of 8 instances ran 27 serving processes.
        (DEFAULT_MAX_INSTANCES, "for other endpoints"),
    ],
)
def test_more_instances_than_the_stack_runs_in_all_are_a_resource_limit(
    local_stack: Any, own_endpoint: str, count: int, said: str
) -> None:
    """Over the limit alone, or with the instances `own_endpoint` runs beside it."""
    client = local_stack.boto3_client("sagemaker")
    client.create_model(ModelName="many", ExecutionRoleArn=ROLE, PrimaryContainer=CONTAINER)
    variant = {
        "VariantName": "v",
        "ModelName": "many",
        "InstanceType": "ml.m5.large",
        "InitialInstanceCount": count,
    }
    output = {"OutputConfig": {"S3OutputPath": "s3://b/out"}}
    client.create_endpoint_config(
        EndpointConfigName="many", ProductionVariants=[variant], AsyncInferenceConfig=output
    )
    try:
        with pytest.raises(ClientError) as refused:
            client.create_endpoint(EndpointName="many", EndpointConfigName="many")
        assert refused.value.response["Error"]["Code"] == "ResourceLimitExceeded"
        assert said in str(refused.value)
        assert client.list_endpoints(NameContains="many")["Endpoints"] == []
    finally:
        client.delete_endpoint_config(EndpointConfigName="many")
        client.delete_model(ModelName="many")


def test_an_endpoint_whose_config_was_deleted_keeps_its_variant_and_async_config(
    local_stack: Any, own_endpoint: str
) -> None:
    """AWS lets a config in use be deleted; the endpoint then showed variant AllTraffic and no
    AsyncInferenceConfig, and autoscaling's calls failed on the variant."""
    client = local_stack.boto3_client("sagemaker")
    before = client.describe_endpoint(EndpointName=own_endpoint)
    client.delete_endpoint_config(EndpointConfigName=before["EndpointConfigName"])
    after = client.describe_endpoint(EndpointName=own_endpoint)
    variant = before["ProductionVariants"][0]["VariantName"]
    assert after["ProductionVariants"][0]["VariantName"] == variant
    assert after["AsyncInferenceConfig"] == before["AsyncInferenceConfig"]
    with pytest.raises(ClientError) as refused:
        client.update_endpoint_weights_and_capacities(
            EndpointName=own_endpoint,
            DesiredWeightsAndCapacities=[
                {"VariantName": variant, "DesiredInstanceCount": DEFAULT_MAX_INSTANCES + 1}
            ],
        )
    assert refused.value.response["Error"]["Code"] == "ResourceLimitExceeded"  # not the variant


def test_a_request_signed_for_another_region_is_refused_naming_the_stacks(
    local_stack: Any,
) -> None:
    """The stack's scaler and alarms run in one region: an endpoint made for eu-west-1 looked
    served and was never scaled. AWS answers a request signed for another region so."""
    import boto3

    home = local_stack.boto3_client("sagemaker")
    elsewhere = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="eu-west-1"
    )
    for service in ("sagemaker", "sagemaker-runtime"):
        url = local_stack.boto3_client(service).meta.endpoint_url
        client = elsewhere.client(service, endpoint_url=url)
        with pytest.raises(ClientError) as refused:
            if service == "sagemaker":
                client.list_endpoints()
            else:
                client.invoke_endpoint_async(EndpointName="any", InputLocation="s3://b/k.wav")
        error = refused.value.response["Error"]
        assert error["Code"] == "InvalidSignatureException"
        assert "serves us-east-1 only" in error["Message"] and "'eu-west-1'" in error["Message"]
    assert "Endpoints" in home.list_endpoints()  # the stack's own region is served


def test_the_throttle_switch_reads_a_small_body_for_an_endpoint_that_exists(
    local_stack: Any,
) -> None:
    """It read any body whole (1.5 GB took the daemon to 6 GB) and kept a setting for an
    endpoint that did not exist."""
    emulator = local_stack.env["AWS_ENDPOINT_URL_SAGEMAKER"]
    unknown = httpx.put(f"{emulator}/_wasync/endpoints/no-such/throttle", json={"fraction": 0.1})
    assert unknown.status_code == 400 and "no-such" in unknown.text
    assert all(
        e["name"] != "no-such" for e in httpx.get(f"{emulator}/_wasync/status").json()["endpoints"]
    )
    with local_stack.own_endpoint() as name:
        big = httpx.put(
            f"{emulator}/_wasync/endpoints/{name}/throttle",
            content=b'{"fraction": 0.1' + b" " * (4 << 20) + b"}",
            timeout=60,
        )
        assert big.status_code == 400 and "less than or equal to 1024" in big.text
