"""The stack's SNS notifications against AWS's documented format, key by key.

A Lambda reads these messages; every key it may read, and whether it is there, must be as on
AWS. The messages are received through SQS with boto3 (not the AWS CLI: v1 ignores
AWS_ENDPOINT_URL_SQS, see docs/local-stack.md).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.waiting import wait_until

pytestmark = pytest.mark.slow
BUCKET = "sagemaker-us-east-1-123456789012"

# Transcribed from AWS's documentation, "Check prediction results", the JSON of a successful
# invocation's notification:
# https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference-check-predictions.html
# (source: github.com/awsdocs/amazon-sagemaker-developer-guide,
#  doc_source/async-inference-check-predictions.md at a869fa5)
DOCUMENTED_SUCCESS: dict[str, Any] = {
    "awsRegion": "us-east-1",
    "eventTime": "2022-01-25T22:46:00.608Z",
    "receivedTime": "2022-01-25T22:46:00.455Z",
    "invocationStatus": "Completed",
    "requestParameters": {
        "contentType": "text/csv",
        "endpointName": "<example-endpoint>",
        "inputLocation": "s3://<bucket>/<input-directory>/input-data.csv",
    },
    "responseParameters": {
        "contentType": "text/csv; charset=utf-8",
        "outputLocation": "s3://<bucket>/<output_directory>/prediction.out",
    },
    "inferenceId": "11111111-2222-3333-4444-555555555555",
    "eventVersion": "1.0",
    "eventSource": "aws:sagemaker",
    "eventName": "InferenceResult",
}
# AWS documents no failed notification. It is the same envelope with invocationStatus "Failed"
# and a failureReason ("ClientError: Received server error (500) from model. ..." in messages
# users have captured), and, since failures go to S3 (S3FailurePath, April 2023),
# responseParameters.failureLocation where the success message has its outputLocation.
DOCUMENTED_FAILURE: dict[str, Any] = {
    "awsRegion": "us-east-1",
    "eventTime": "2022-01-25T22:46:00.608Z",
    "receivedTime": "2022-01-25T22:46:00.455Z",
    "invocationStatus": "Failed",
    "failureReason": "ClientError: Received server error (500) from model.",
    "requestParameters": DOCUMENTED_SUCCESS["requestParameters"],
    "responseParameters": {"failureLocation": "s3://<bucket>/<failure_directory>/prediction.out"},
    "inferenceId": "11111111-2222-3333-4444-555555555555",
    "eventVersion": "1.0",
    "eventSource": "aws:sagemaker",
    "eventName": "InferenceResult",
}
EVENT_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
FIXED = ("awsRegion", "eventVersion", "eventSource", "eventName")


def subscribe_queue(stack, endpoint: str) -> str:  # type: ignore[no-untyped-def]
    sqs, sns = stack.boto3_client("sqs"), stack.boto3_client("sns")
    queue_url = sqs.create_queue(QueueName=f"format-{endpoint}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    for topic in sns.list_topics()["Topics"]:
        if topic["TopicArn"].split(":")[-1] in {
            f"wasync-{endpoint}-{k}" for k in ("success", "error")
        }:
            sns.subscribe(TopicArn=topic["TopicArn"], Protocol="sqs", Endpoint=queue_arn)
    return str(queue_url)


def receive(stack, queue_url: str, count: int) -> dict[str, dict[str, Any]]:  # type: ignore[no-untyped-def]
    """The notifications (SNS's Message, parsed) by inference id, once `count` have come."""
    sqs, found = stack.boto3_client("sqs"), {}

    def all_came() -> bool:
        for message in sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        ).get("Messages", []):
            note = json.loads(json.loads(message["Body"])["Message"])
            found[note["inferenceId"]] = note
        return len(found) >= count

    wait_until(all_came, f"{count} notifications")
    return found


def assert_shaped_like(message: dict[str, Any], documented: dict[str, Any], sent: set[str]) -> None:
    """Same keys, in the same order, as the documentation; requestParameters holds exactly
    what the request sent; no null anywhere; values of the documented types and formats."""
    assert list(message) == list(documented)
    assert set(message["requestParameters"]) == sent | {"endpointName"}
    assert list(message["responseParameters"]) == list(documented["responseParameters"])
    for part in (message, message["requestParameters"], message["responseParameters"]):
        assert all(value is not None for value in part.values()), part
        assert all(isinstance(value, str | dict) for value in part.values()), part
    assert EVENT_TIME.match(message["eventTime"]) and EVENT_TIME.match(message["receivedTime"])
    assert message["receivedTime"] <= message["eventTime"]
    assert {k: message[k] for k in FIXED} == {k: documented[k] for k in FIXED}
    assert message["invocationStatus"] == documented["invocationStatus"]


def test_notifications_match_aws_documented_success_and_failure(
    local_stack, own_endpoint: str, data_dir: Path
) -> None:
    s3, runtime = local_stack.boto3_client("s3"), local_stack.boto3_client("sagemaker-runtime")
    queue_url = subscribe_queue(local_stack, own_endpoint)
    s3.upload_file(str(data_dir / "en_short.wav"), BUCKET, "format/en.wav")
    s3.upload_file(str(data_dir / "corrupt.mp3"), BUCKET, "format/corrupt.mp3")
    # What `aws sagemaker-runtime invoke-endpoint-async ... --custom-attributes format=srt`
    # sends: no Accept header.
    good = runtime.invoke_endpoint_async(
        EndpointName=own_endpoint,
        InputLocation=f"s3://{BUCKET}/format/en.wav",
        ContentType="audio/wav",
        CustomAttributes="format=srt",
    )
    bad = runtime.invoke_endpoint_async(
        EndpointName=own_endpoint, InputLocation=f"s3://{BUCKET}/format/corrupt.mp3"
    )
    notes = receive(local_stack, queue_url, 2)

    success = notes[good["InferenceId"]]
    assert_shaped_like(
        success, DOCUMENTED_SUCCESS, {"contentType", "customAttributes", "inputLocation"}
    )
    assert success["requestParameters"] == {
        "contentType": "audio/wav",
        "customAttributes": "format=srt",
        "endpointName": own_endpoint,
        "inputLocation": f"s3://{BUCKET}/format/en.wav",
    }
    output = success["responseParameters"]["outputLocation"]
    assert output == good["OutputLocation"]
    stored = s3.head_object(Bucket=BUCKET, Key=output.split("/", 3)[3])
    # the result's content type (an srt), not the request's Accept header (there was none)
    assert success["responseParameters"]["contentType"] == stored["ContentType"]
    assert stored["ContentType"].startswith("application/x-subrip")

    failure = notes[bad["InferenceId"]]
    assert_shaped_like(failure, DOCUMENTED_FAILURE, {"inputLocation"})
    assert failure["responseParameters"] == {"failureLocation": bad["FailureLocation"]}
    assert "decode" in failure["failureReason"]


def test_a_message_nested_past_the_recursion_limit_is_no_notification() -> None:
    """Anyone who may publish to the topic can send it; the batch's listener must go on."""
    from whisper_async.jobs.notifications import parse

    assert parse("[" * 100_000) is None
    assert parse(json.dumps({"Message": "[" * 100_000})) is None
    assert parse(json.dumps({"Message": 7})) is None
