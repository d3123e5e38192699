"""The SageMaker Python SDK against the local stack: a notebook written for SageMaker runs
unchanged once `wasync local env` is in the environment.

The SDK is never a dependency of wasync (v2 is about 300 MB, v3 1 GB and 134 packages), so this
tier runs where it is installed: `make test-sdk` makes `.venv-sdk` with wasync, the SDK (v2,
the API the published Whisper notebooks use) and pytest, and runs only these tests. Anywhere
else the module is skipped and says why.
"""

from __future__ import annotations

import importlib.util
import json
import os
import tarfile
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.stack import RunningStack, running_stack
from tests.helpers.waiting import wait_until

if importlib.util.find_spec("sagemaker") is None:
    pytest.skip(
        "the SageMaker Python SDK is not installed here; `make test-sdk` runs this tier in "
        ".venv-sdk",
        allow_module_level=True,
    )

pytestmark = [
    pytest.mark.sdk,
    pytest.mark.slow,
    # AsyncPredictor.get_result waits for the output and the failure object in two threads
    # and leaves the loser running; it fails later, once the stack is down. The SDK's, not ours.
    pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning"),
]
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"  # the stack checks no IAM
IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.0-gpu-py310"
DIMENSION = "sagemaker:variant:DesiredInstanceCount"


@pytest.fixture(scope="module")
def sdk_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """A fresh stack (no bucket yet), its `local env` in os.environ as after `eval`."""
    with (
        running_stack(tmp_path_factory.mktemp("sdk-stack")) as stack,
        pytest.MonkeyPatch.context() as env,
    ):
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "WASYNC_ENDPOINT", "WASYNC_BUCKET"):
            env.delenv(name, raising=False)
        for name, value in stack.env.items():
            env.setenv(name, value)
        yield stack


def get_output(session: Any, output_location: str) -> str | None:
    """The AWS docs' get_output(), one try: the result, or None while there is none."""
    from botocore.exceptions import ClientError

    output_url = urllib.parse.urlparse(output_location)
    try:
        return str(session.read_s3_file(bucket=output_url.netloc, key_prefix=output_url.path[1:]))
    except ClientError as e:
        if e.response["Error"]["Code"] == "NoSuchKey":
            return None
        raise


def test_the_article_flow_runs_unchanged(
    sdk_stack: RunningStack, tiny_en_pt_dir: Path, data_dir: Path, tmp_path: Path
) -> None:
    import boto3
    import sagemaker

    assert os.environ["SAGEMAKER_USER_CONFIG_OVERRIDE"]
    sess = sagemaker.Session()
    bucket = sess.default_bucket()  # from the config file: the SDK asks STS for nothing
    assert bucket == "sagemaker-us-east-1-123456789012"

    with tarfile.open(tmp_path / "model.tar.gz", "w:gz") as tar:  # a bare checkpoint, no manifest
        tar.add(tiny_en_pt_dir / "tiny.en.pt", arcname="model.pt")
    # the stack is fresh: the bucket does not exist until the SDK creates it here
    model_data = sess.upload_data(str(tmp_path / "model.tar.gz"), bucket, "whisper/model")
    audio = sess.upload_data(str(data_dir / "en_short.wav"), bucket, "whisper/input")

    sess.create_model(
        name="whisper-openai",
        role=ROLE,
        container_defs={"Image": IMAGE, "ModelDataUrl": model_data},
    )
    sm_client = boto3.client("sagemaker")
    sm_client.create_endpoint_config(
        EndpointConfigName="whisper-async-config",
        ProductionVariants=[
            {
                "VariantName": "variant1",
                "ModelName": "whisper-openai",
                "InstanceType": "ml.g5.xlarge",
                "InitialInstanceCount": 1,
            }
        ],
        AsyncInferenceConfig={"OutputConfig": {"S3OutputPath": f"s3://{bucket}/whisper/output"}},
    )
    sm_client.create_endpoint(
        EndpointName="whisper-async", EndpointConfigName="whisper-async-config"
    )
    sm_client.get_waiter("endpoint_in_service").wait(
        EndpointName="whisper-async", WaiterConfig={"Delay": 1, "MaxAttempts": 900}
    )
    try:
        runtime = boto3.client("sagemaker-runtime")
        response = runtime.invoke_endpoint_async(
            EndpointName="whisper-async", InputLocation=audio, ContentType="audio/wav"
        )
        output = wait_until(
            lambda: get_output(sess, response["OutputLocation"]), "the transcript in S3"
        )
        assert "lazy dog" in json.loads(output)["text"].lower()

        autoscaling = boto3.client("application-autoscaling")
        resource_id = "endpoint/whisper-async/variant/variant1"
        autoscaling.register_scalable_target(
            ServiceNamespace="sagemaker",
            ResourceId=resource_id,
            ScalableDimension=DIMENSION,
            MinCapacity=0,
            MaxCapacity=2,
        )
        autoscaling.put_scaling_policy(
            PolicyName="backlog-per-instance",
            ServiceNamespace="sagemaker",
            ResourceId=resource_id,
            ScalableDimension=DIMENSION,
            PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration={
                "TargetValue": 5.0,
                "CustomizedMetricSpecification": {
                    "MetricName": "ApproximateBacklogSizePerInstance",
                    "Namespace": "AWS/SageMaker",
                    "Dimensions": [{"Name": "EndpointName", "Value": "whisper-async"}],
                    "Statistic": "Average",
                },
            },
        )
        policies = autoscaling.describe_scaling_policies(
            ServiceNamespace="sagemaker", ResourceId=resource_id
        )["ScalingPolicies"]
        assert [p["PolicyName"] for p in policies] == ["backlog-per-instance"]

        # wasync reads the variant from the endpoint: it sees this policy on variant1
        status = json.loads(sdk_stack.cli("--json", "-e", "whisper-async", "status").stdout)
        assert status["variant"] == "variant1"
        assert status["autoscaling"]["resource_id"] == resource_id
    finally:
        sm_client.delete_endpoint(EndpointName="whisper-async")


def test_async_predictor_on_an_endpoint_wasync_deployed(
    sdk_stack: RunningStack, tiny_en_dir: Path, data_dir: Path
) -> None:
    import sagemaker
    from sagemaker.async_inference import WaiterConfig
    from sagemaker.deserializers import JSONDeserializer
    from sagemaker.exceptions import AsyncInferenceModelError
    from sagemaker.predictor import Predictor
    from sagemaker.predictor_async import AsyncPredictor
    from sagemaker.serializers import DataSerializer

    pushed = sdk_stack.cli("push-model", str(tiny_en_dir), "--name", "tiny.en")
    assert pushed.exit_code == 0, pushed.output
    deployed = sdk_stack.cli("-e", "wasync-made", "deploy", "--instance", "ml.g5.xlarge")
    assert deployed.exit_code == 0, deployed.output
    predictor = AsyncPredictor(
        Predictor(
            endpoint_name="wasync-made",
            sagemaker_session=sagemaker.Session(),
            serializer=DataSerializer(content_type="audio/wav"),
            deserializer=JSONDeserializer(),
        )
    )
    patience = WaiterConfig(max_attempts=600, delay=1)  # polls S3 for a state, not a time

    done = predictor.predict_async(data=(data_dir / "en_short.wav").read_bytes())
    assert "lazy dog" in done.get_result(patience)["text"].lower()

    broken = predictor.predict_async(data=(data_dir / "corrupt.mp3").read_bytes())
    with pytest.raises(AsyncInferenceModelError) as failed:
        broken.get_result(patience)
    assert "decode" in str(failed.value)
