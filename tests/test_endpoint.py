"""deploy, status and delete against moto; update, Failed and timeout paths through Stubber."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import pytest
from botocore.stub import Stubber

from tests.helpers.models import checkpoint_file
from whisper_async.endpoint import (
    KEPT,
    DeployPlan,
    DeployRequest,
    cpu_encoder_note,
    deploy,
    parse_env,
    plan_deploy,
    wait_for_earlier_change,
    wait_for_endpoint,
)
from whisper_async.errors import (
    AwsError,
    DeploymentFailedError,
    ExitCode,
    NotFoundError,
    UsageError,
    WaitTimeoutError,
)
from whisper_async.models import push_model
from whisper_async.polling import Backoff
from whisper_async.status import endpoint_status, serving_settings
from whisper_async.teardown import delete_endpoint

ROLE = "arn:aws:iam::123456789012:role/wasync-test"
IMAGE = "public.ecr.aws/example/wasync:test"


@pytest.fixture
def model_uri(moto_clients, tmp_path: Path) -> str:  # type: ignore[no-untyped-def]
    """An English-only model's (its vocabulary is under a multilingual model's 51865)."""
    checkpoint = tmp_path / "tiny.pt"
    checkpoint_file(checkpoint)
    return push_model(moto_clients, str(checkpoint)).uri


@pytest.fixture
def multilingual_uri(moto_clients, tmp_path: Path) -> str:  # type: ignore[no-untyped-def]
    checkpoint = tmp_path / "base.pt"
    checkpoint_file(checkpoint, n_vocab=51865)
    return push_model(moto_clients, str(checkpoint)).uri


def request(**overrides) -> DeployRequest:  # type: ignore[no-untyped-def]
    values = {
        "instance_type": "ml.g4dn.xlarge",
        "image_uri": IMAGE,
        "role_arn": ROLE,
        "max_concurrency": 2,
    }
    return DeployRequest(**{**values, **overrides})


def test_deploy_creates_model_config_and_async_endpoint(moto_clients, model_uri: str) -> None:
    plan = plan_deploy(moto_clients, request())
    result = deploy(moto_clients, plan, sleep=lambda s: None)

    sagemaker = moto_clients.client("sagemaker")
    assert result.status == "InService" and result.action == "create"
    assert result.model_uri == model_uri  # "last pushed" is the default
    endpoint = sagemaker.describe_endpoint(EndpointName="whisper")
    assert endpoint["EndpointConfigName"] == plan.config_name
    config = sagemaker.describe_endpoint_config(EndpointConfigName=plan.config_name)
    assert config["AsyncInferenceConfig"] == {
        "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 2},
        "OutputConfig": {
            "S3OutputPath": "s3://sagemaker-us-east-1-123456789012/wasync/outputs/whisper/",
            "S3FailurePath": "s3://sagemaker-us-east-1-123456789012/wasync/failures/whisper/",
        },
    }
    variant = config["ProductionVariants"][0]
    assert variant["InstanceType"] == "ml.g4dn.xlarge"
    assert variant["ContainerStartupHealthCheckTimeoutInSeconds"] == 1800
    assert variant["ModelDataDownloadTimeoutInSeconds"] == 1800
    model = sagemaker.describe_model(ModelName=plan.model_name)
    assert model["PrimaryContainer"]["ModelDataUrl"] == model_uri
    assert model["PrimaryContainer"]["Environment"]["WASYNC_MAX_CONCURRENCY"] == "2"
    assert "WASYNC_DEFAULT_BATCH_SIZE" not in model["PrimaryContainer"]["Environment"]
    tags = sagemaker.list_tags(ResourceArn=config["EndpointConfigArn"])["Tags"]
    assert {"Key": "managed-by", "Value": "wasync"} in tags


def params(plan, operation: str) -> dict:  # type: ignore[no-untyped-def]
    """The parameters of the plan's one step that calls `operation`."""
    (found,) = [s.params for s in plan.steps if s.operation == operation]
    return found


def test_notify_plans_the_topics_creates_them_once_and_sets_notification_config(
    moto_clients, model_uri: str
) -> None:
    """Planning creates nothing (the topics are steps); deploying creates them once."""
    sns = moto_clients.client("sns")
    first = plan_deploy(moto_clients, request(notify=True))
    assert sns.list_topics()["Topics"] == []
    assert [s.params["Name"] for s in first.steps if s.operation == "create_topic"] == [
        "wasync-whisper-success",
        "wasync-whisper-error",
    ]
    config = params(first, "create_endpoint_config")
    notification = config["AsyncInferenceConfig"]["OutputConfig"]["NotificationConfig"]
    assert notification == {
        "SuccessTopic": "arn:aws:sns:us-east-1:123456789012:wasync-whisper-success",
        "ErrorTopic": "arn:aws:sns:us-east-1:123456789012:wasync-whisper-error",
    }
    deploy(moto_clients, first, sleep=lambda s: None)
    assert sorted(t["TopicArn"] for t in sns.list_topics()["Topics"]) == sorted(
        notification.values()
    )
    second = plan_deploy(moto_clients, request(notify=True))
    assert not [s for s in second.steps if s.operation == "create_topic"]


def test_a_remembered_model_that_is_gone_is_named_as_the_last_pushed(moto_clients) -> None:
    from whisper_async import state

    gone = "s3://sagemaker-us-east-1-123456789012/wasync/models/removed/model.tar.gz"
    state.remember(moto_clients.settings, "us-east-1", "model_uri", gone)
    with pytest.raises(NotFoundError, match=f"The last model pushed, {gone}, does not exist"):
        plan_deploy(moto_clients, request())


@pytest.mark.parametrize(
    ("overrides", "error", "message"),
    [
        ({"role_arn": "not-an-arn"}, UsageError, "is not an IAM role ARN"),
        (
            {"model_uri": "s3://sagemaker-us-east-1-123456789012/nope/model.tar.gz"},
            NotFoundError,
            "does not exist",
        ),
        (
            {"image_uri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/wasync:missing"},
            Exception,
            "does not exist",
        ),
        ({"startup_timeout": 10}, UsageError, "between 60 and 3600"),
        ({"default_language": "xx"}, UsageError, "--language: language='xx' is not a Whisper"),
        ({"default_batch_size": 0}, UsageError, "--batch-size: batch_size=0 is out of range"),
        ({"cpu_encoder": "bf16"}, UsageError, "--cpu-encoder 'bf16' is not one of ctranslate2, "),
        (
            {"default_batch_size": 64, "environment": {"WASYNC_MAX_BATCH_SIZE": "16"}},
            UsageError,
            "--batch-size 64 is over the endpoint's limit WASYNC_MAX_BATCH_SIZE=16",
        ),
    ],
)
def test_bad_inputs_are_refused_before_any_change(
    moto_clients, model_uri: str, overrides: dict, error: type, message: str
) -> None:
    with pytest.raises(error, match=message):
        plan_deploy(moto_clients, request(**overrides))
    assert moto_clients.client("sagemaker").list_models()["Models"] == []


def test_request_defaults_reach_the_container_environment(
    moto_clients, multilingual_uri: str
) -> None:
    plan = plan_deploy(moto_clients, request(default_language="de", default_batch_size=1))
    deploy(moto_clients, plan, sleep=lambda s: None)
    model = moto_clients.client("sagemaker").describe_model(ModelName=plan.model_name)
    environment = model["PrimaryContainer"]["Environment"]
    assert environment["WASYNC_DEFAULT_LANGUAGE"] == "de"
    assert environment["WASYNC_ENDPOINT_NAME"] == "whisper"  # the request log's Endpoint
    assert environment["WASYNC_DEFAULT_BATCH_SIZE"] == "1"
    assert environment["WASYNC_MODEL_LANGUAGES"] == "multilingual"  # what transcribe checks


def test_an_english_only_model_is_marked_and_refuses_a_default_language_it_cannot_serve(
    moto_clients, model_uri: str
) -> None:
    with pytest.raises(UsageError, match="needs a multilingual model; the model s3://") as refused:
        plan_deploy(moto_clients, request(default_language="de"))
    assert "--language en or --language auto" in refused.value.hint
    assert moto_clients.client("sagemaker").list_models()["Models"] == []

    plan = plan_deploy(moto_clients, request(default_language="EN"))
    deploy(moto_clients, plan, sleep=lambda s: None)
    model = moto_clients.client("sagemaker").describe_model(ModelName=plan.model_name)
    assert model["PrimaryContainer"]["Environment"]["WASYNC_MODEL_LANGUAGES"] == "en"


@pytest.mark.parametrize(("given", "stored"), [(" EN", "en"), ("", None), ("auto", None)])
def test_the_default_language_is_stored_as_the_server_reads_it(
    moto_clients, model_uri: str, given: str, stored: str | None
) -> None:
    """`--language ' en'` was stored as ' en', and `--language ''` as an empty variable, so a
    default language could not be taken away again."""
    plan = plan_deploy(moto_clients, request(default_language=given))
    deploy(moto_clients, plan, sleep=lambda s: None)
    model = moto_clients.client("sagemaker").describe_model(ModelName=plan.model_name)
    assert model["PrimaryContainer"]["Environment"].get("WASYNC_DEFAULT_LANGUAGE") == stored


def test_the_cpu_encoder_reaches_the_container_and_is_warned_where_it_cannot_pay(
    moto_clients, model_uri: str
) -> None:
    cpu = request(instance_type="ml.m5.xlarge")
    deploy(moto_clients, plan_deploy(moto_clients, cpu), sleep=lambda s: None)
    for named in ("ctranslate2", " CTranslate2 "):  # naming the default is no change
        same = plan_deploy(moto_clients, replace(cpu, cpu_encoder=named))
        assert same.action == "unchanged", same.changes
    plan = plan_deploy(moto_clients, replace(cpu, cpu_encoder="Torch-BFloat16"))
    assert plan.changes == ("environment WASYNC_CPU_ENCODER: (unset) -> torch-bfloat16",)
    assert any("not known to have AMX" in w for w in plan.warnings)
    create_model = next(step for step in plan.steps if step.operation == "create_model")
    environment = create_model.params["PrimaryContainer"]["Environment"]
    assert environment["WASYNC_CPU_ENCODER"] == "torch-bfloat16"
    on_gpu = plan_deploy(moto_clients, request(cpu_encoder="torch-bfloat16"))
    assert any("encodes on its GPU" in w for w in on_gpu.warnings)
    # on the local stack a g5 is a name: the encoder runs on this machine's CPU
    assert cpu_encoder_note(request(cpu_encoder="torch-bfloat16"), local=True) is None


def test_missing_role_says_how_to_get_one(moto_clients, model_uri: str) -> None:
    with pytest.raises(UsageError) as info:
        plan_deploy(moto_clients, request(role_arn=None))
    assert "wasync iam --create" in (info.value.hint or "")


def test_unknown_instance_type_warns_but_does_not_block(moto_clients, model_uri: str) -> None:
    plan = plan_deploy(moto_clients, request(instance_type="ml.g9.xlarge"))
    assert plan.warnings and "ml.g9.xlarge" in plan.warnings[0]


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("ml.g5.xlarg", "ml.g5.xlarge"),
        ("ml.g5xlarge", "ml.g5.xlarge"),
        ("ml.m5.xlarge2", "ml.m5.xlarge"),
    ],
)
def test_a_misspelled_size_is_refused_before_anything_is_made(
    moto_clients, model_uri: str, typed: str, meant: str
) -> None:
    """`--instance ml.g5.xlarg` went to AWS and came back as a failure (exit 1) where `foo` was a
    usage error (exit 2)."""
    with pytest.raises(UsageError) as refused:
        plan_deploy(moto_clients, request(instance_type=typed))
    assert refused.value.exit_code == ExitCode.USAGE
    assert repr(typed) in refused.value.message
    assert f"--instance {meant}" in (refused.value.hint or "")
    assert moto_clients.client("sagemaker").list_models()["Models"] == []


def test_an_instance_type_sagemaker_refuses_leaves_nothing_and_a_short_message(
    moto_clients, model_uri: str
) -> None:
    """It left the model it had made for the next deploy to remove, and the error listed every
    instance type SageMaker has, 6 KB on one line."""
    plan = plan_deploy(moto_clients, request(instance_type="ml.m5.96xlarge"))
    with pytest.raises(AwsError) as refused:
        deploy(moto_clients, plan, sleep=lambda s: None)
    assert len(refused.value.message) < 400
    assert "ml.m5.96xlarge" in refused.value.message and "closest: ml.m5." in refused.value.message
    sagemaker = moto_clients.client("sagemaker")
    assert sagemaker.list_models()["Models"] == []
    assert sagemaker.list_endpoint_configs()["EndpointConfigs"] == []


def describe_response(status: str, config: str, reason: str | None = None) -> dict:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    response = {
        "EndpointName": "whisper",
        "EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/whisper",
        "EndpointConfigName": config,
        "EndpointStatus": status,
        "CreationTime": now,
        "LastModifiedTime": now,
    }
    if reason:
        response["FailureReason"] = reason
    return response


def test_update_path_calls_update_endpoint_and_removes_superseded(
    moto_clients, model_uri: str
) -> None:
    """Moto has no UpdateEndpoint: Stubber checks the request against botocore's model.
    (A changed setting, since re-deploying the same settings is a no-op.)"""
    first = deploy(moto_clients, plan_deploy(moto_clients, request()), sleep=lambda s: None)
    plan = plan_deploy(
        moto_clients,
        request(max_concurrency=3),
        now=dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc),
    )
    assert plan.action == "update" and plan.previous_config == first.config_name
    assert plan.changes == (
        "environment WASYNC_MAX_CONCURRENCY: 2 -> 3",
        "max_concurrency: 2 -> 3",
    )
    update = plan.steps[-1]
    assert update.operation == "update_endpoint"
    assert update.params == {  # --initial-count given: the new config's count replaces it
        "EndpointName": "whisper",
        "EndpointConfigName": plan.config_name,
        "RetainAllVariantProperties": True,
        "ExcludeRetainedVariantProperties": [{"VariantPropertyType": "DesiredInstanceCount"}],
    }

    sagemaker = moto_clients.client("sagemaker")
    real_create_model, real_create_config = sagemaker.create_model, sagemaker.create_endpoint_config
    with Stubber(sagemaker) as stub:
        stub.add_response(
            "create_model",
            {"ModelArn": "arn:aws:sagemaker:us-east-1:123456789012:model/x"},
            params(plan, "create_model"),
        )
        stub.add_response(
            "create_endpoint_config",
            {"EndpointConfigArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/x"},
            params(plan, "create_endpoint_config"),
        )
        stub.add_response(
            "update_endpoint",
            {"EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/whisper"},
            update.params,
        )
        stub.add_response(
            "describe_endpoint",
            describe_response("Updating", plan.config_name),
            {"EndpointName": "whisper"},
        )
        stub.add_response(
            "describe_endpoint",
            describe_response("InService", plan.config_name),
            {"EndpointName": "whisper"},
        )
        from whisper_async.plan import execute

        execute(moto_clients, plan.plan)
        state = wait_for_endpoint(moto_clients, "whisper", sleep=lambda s: None)
        stub.assert_no_pending_responses()
    assert state.status == "InService" and state.config_name == plan.config_name
    # Superseded clean-up runs on moto: create the new config for real, then remove the old.
    real_create_model(**params(plan, "create_model"))
    real_create_config(**params(plan, "create_endpoint_config"))
    from whisper_async.resources import remove_superseded

    removed = remove_superseded(moto_clients, "whisper", keep=plan.config_name)
    assert (
        f"endpoint-config/{first.config_name}" in removed and f"model/{first.model_name}" in removed
    )
    names = [c["EndpointConfigName"] for c in sagemaker.list_endpoint_configs()["EndpointConfigs"]]
    assert names == [plan.config_name]


def test_a_deploy_found_up_to_date_removes_what_an_interrupted_one_left(
    moto_clients, model_uri: str
) -> None:
    """Ctrl-C after a deploy made its model and config, before its update, or between its
    model and its config: the next deploy with the running settings found the endpoint up to
    date and left them for ever (a model without a config, no config's clean-up found)."""
    first = deploy(moto_clients, plan_deploy(moto_clients, request()), sleep=lambda s: None)
    later = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    interrupted = plan_deploy(moto_clients, request(max_concurrency=3), now=later)
    sagemaker = moto_clients.client("sagemaker")
    sagemaker.create_model(**params(interrupted, "create_model"))
    sagemaker.create_endpoint_config(**params(interrupted, "create_endpoint_config"))
    at_its_model = plan_deploy(moto_clients, request(max_concurrency=4), now=later.replace(day=2))
    sagemaker.create_model(**params(at_its_model, "create_model"))

    again = plan_deploy(moto_clients, request())
    assert again.action == "unchanged"
    result = deploy(moto_clients, again, sleep=lambda s: None)
    assert result.removed == (
        f"endpoint-config/{interrupted.config_name}",
        f"model/{interrupted.model_name}",
        f"model/{at_its_model.model_name}",
    )
    configs = sagemaker.list_endpoint_configs()["EndpointConfigs"]
    assert [c["EndpointConfigName"] for c in configs] == [first.config_name]
    assert [m["ModelName"] for m in sagemaker.list_models()["Models"]] == [first.model_name]


def test_a_redeploy_keeps_every_setting_not_given_and_the_instances_running(
    moto_clients, multilingual_uri: str, tmp_path: Path
) -> None:
    """`wasync deploy` again for a new model, without repeating --instance and the rest:
    the instance type and concurrency went back to the defaults, and the update set the
    variant back to --initial-count, whatever autoscaling ran."""
    deploy(
        moto_clients,
        plan_deploy(moto_clients, request(instance_type="ml.m5.xlarge", default_language="ja")),
        sleep=lambda s: None,
    )
    v2 = checkpoint_file(tmp_path / "v2.pt", b"v2", n_vocab=51865)
    new_model = push_model(moto_clients, str(v2)).uri
    plan = plan_deploy(
        moto_clients,
        DeployRequest(model_uri=new_model, image_uri=IMAGE, role_arn=ROLE, kept=frozenset(KEPT)),
    )
    assert plan.changes == (f"model_data: {multilingual_uri} -> {new_model}",)
    config = params(plan, "create_endpoint_config")
    variant = config["ProductionVariants"][0]
    assert (variant["InstanceType"], variant["InitialInstanceCount"]) == ("ml.m5.xlarge", 1)
    assert config["AsyncInferenceConfig"]["ClientConfig"] == {
        "MaxConcurrentInvocationsPerInstance": 2
    }
    update = plan.steps[-1]
    assert update.params == {
        "EndpointName": "whisper",
        "EndpointConfigName": plan.config_name,
        "RetainAllVariantProperties": True,
    }
    with Stubber(moto_clients.client("sagemaker")) as stub:  # the request's shape, by botocore
        arn = "arn:aws:sagemaker:us-east-1:123456789012:endpoint/whisper"
        stub.add_response("update_endpoint", {"EndpointArn": arn}, update.params)
        moto_clients.client("sagemaker").update_endpoint(**update.params)
    # An English-only model cannot keep the running endpoint's default language
    english = push_model(moto_clients, str(checkpoint_file(tmp_path / "v3.pt", b"v3"))).uri
    with pytest.raises(UsageError, match="--language ja as the endpoint's default"):
        plan_deploy(
            moto_clients,
            DeployRequest(model_uri=english, image_uri=IMAGE, role_arn=ROLE, kept=frozenset(KEPT)),
        )


def test_env_variables_reach_the_container_and_stay_until_removed(
    moto_clients, model_uri: str
) -> None:
    """The 413 hint said to deploy with a higher WASYNC_MAX_AUDIO_SECONDS, and deploy had no
    way to set a container variable."""

    def environment(plan: DeployPlan) -> dict[str, str]:
        return params(plan, "create_model")["PrimaryContainer"]["Environment"]

    given = parse_env(["WASYNC_MAX_AUDIO_SECONDS=28800", "HF_HUB_OFFLINE=1"])
    deploy(
        moto_clients, plan_deploy(moto_clients, request(environment=given)), sleep=lambda s: None
    )
    again = plan_deploy(moto_clients, request(kept=frozenset(KEPT)))
    assert again.action == "unchanged"  # named once, kept by the deploys after it
    removed = plan_deploy(moto_clients, request(environment=parse_env(["HF_HUB_OFFLINE="])))
    assert removed.changes == ("environment HF_HUB_OFFLINE: 1 -> (unset)",)
    assert environment(removed)["WASYNC_MAX_AUDIO_SECONDS"] == "28800"


@pytest.mark.parametrize(
    ("assignment", "said"),
    [
        ("WASYNC_MAX_AUDIO_SECONDS", "is not NAME=VALUE"),
        ("1X=2", "is not NAME=VALUE"),
        ("WASYNC_MAX_CONCURRENCY=4", "deploy sets it from its own options"),
        ("WASYNC_DEFAULT_LANGUAGE=ja", "deploy sets it from its own options"),
        ("WASYNC_MODEL_LANGUAGES=multilingual", "from what push-model recorded of the model"),
        ("WASYNC_MAX_AUDIO_SECONDS=8h", "is not a number"),
        ("WASYNC_MAX_AUDIO_SECONDS=90000", "must be at most 86400"),
        ("WASYNC_WINDOW_SECONDS=inf", "must be at most 86400"),
        ("WASYNC_MAX_BODY_BYTES=1e400", "must be at most"),
        ("WASYNC_BODY_IDLE_SECONDS=nan", "must be above 0"),
        ("SAGEMAKER_BIND_TO_PORT=9000", "SageMaker sets its own"),
        ("WASYNC_MODEL_DIR=/data", "SageMaker unpacks the model at /opt/ml/model"),
        ("X=" + "v" * 1025, "over 1024 characters"),
        ("AWS_SECRET_ACCESS_KEY=abc", "a credential in a container's environment"),
        ("HF_TOKEN=hf_abc", "a credential in a container's environment"),
        ("KEY_ID=AKIAIOSFODNN7EXAMPLE", "a credential in a container's environment"),
    ],
)
def test_a_bad_env_variable_is_refused_before_any_call(assignment: str, said: str) -> None:
    with pytest.raises(UsageError, match=said):
        parse_env([assignment])


def test_a_new_instance_type_on_an_autoscaled_endpoint_is_refused_before_anything_changes(
    moto_clients, model_uri: str
) -> None:
    """SageMaker fails such an UpdateEndpoint; say what to do before creating anything."""
    from whisper_async.scaling import configure

    deploy(moto_clients, plan_deploy(moto_clients, request()), sleep=lambda s: None)
    configure(moto_clients, min_capacity=1, max_capacity=2)
    with pytest.raises(
        UsageError, match="refuses to change an autoscaled endpoint's instance type"
    ) as refused:
        plan_deploy(moto_clients, request(instance_type="ml.g5.xlarge"))
    assert "autoscale --off" in (refused.value.hint or "")
    kept = plan_deploy(moto_clients, request(instance_type="ml.g4dn.xlarge", max_concurrency=4))
    assert kept.action == "update"


@pytest.mark.parametrize("compute_type", ["bogus", "INT8", "fp16"])
def test_a_compute_type_no_engine_knows_is_refused_before_anything_is_created(
    moto_clients, model_uri: str, compute_type: str
) -> None:
    """It surfaced as a model that failed to load, well into the deploy."""
    with pytest.raises(UsageError, match=f"--compute-type '{compute_type}' is not a compute type"):
        plan_deploy(moto_clients, request(compute_type=compute_type))
    assert plan_deploy(moto_clients, request(compute_type="int8_float16")).action == "create"


def test_failed_endpoint_reports_failure_reason(moto_clients) -> None:
    sagemaker = moto_clients.client("sagemaker")
    with Stubber(sagemaker) as stub:
        stub.add_response(
            "describe_endpoint", describe_response("Creating", "c1"), {"EndpointName": "whisper"}
        )
        stub.add_response(
            "describe_endpoint",
            describe_response(
                "Failed", "c1", "The primary container did not pass the ping health check."
            ),
            {"EndpointName": "whisper"},
        )
        statuses: list[str] = []
        with pytest.raises(DeploymentFailedError, match="did not pass the ping health check"):
            wait_for_endpoint(
                moto_clients,
                "whisper",
                on_status=lambda s, e: statuses.append(s),
                sleep=lambda s: None,
            )
    assert statuses == ["Creating", "Failed"]


def test_a_deploy_that_waits_first_lets_a_change_under_way_finish(moto_clients) -> None:
    """SageMaker refuses an update while the endpoint is Updating (an earlier --no-wait
    deploy): a deploy that waits waits for it, then plans against what it became."""
    sagemaker = moto_clients.client("sagemaker")
    statuses: list[str] = []
    with Stubber(sagemaker) as stub:
        for status in ("Updating", "Updating", "InService"):
            stub.add_response(
                "describe_endpoint", describe_response(status, "c1"), {"EndpointName": "whisper"}
            )
        waited = wait_for_earlier_change(
            moto_clients, 600, lambda s, e: statuses.append(s), sleep=lambda s: None
        )
        stub.assert_no_pending_responses()
    assert waited == "Updating" and statuses == ["Updating", "InService"]


def test_a_deploy_waits_out_a_delete_under_way_then_creates(moto_clients) -> None:
    sagemaker = moto_clients.client("sagemaker")
    with Stubber(sagemaker) as stub:
        for status in ("Deleting", "Deleting"):
            stub.add_response(
                "describe_endpoint", describe_response(status, "c1"), {"EndpointName": "whisper"}
            )
        stub.add_client_error(
            "describe_endpoint", "ValidationException", 'Could not find endpoint "whisper".'
        )
        assert wait_for_earlier_change(moto_clients, 600, sleep=lambda s: None) == "Deleting"
        stub.assert_no_pending_responses()


def test_nothing_under_way_is_not_waited_for(moto_clients, model_uri: str) -> None:
    assert wait_for_earlier_change(moto_clients, 600) is None  # no endpoint
    deploy(moto_clients, plan_deploy(moto_clients, request()), sleep=lambda s: None)
    assert wait_for_earlier_change(moto_clients, 600) is None  # InService


def test_a_deploy_without_waiting_reports_sagemakers_status(moto_clients, model_uri: str) -> None:
    result = deploy(moto_clients, plan_deploy(moto_clients, request()), wait=False)
    described = moto_clients.client("sagemaker").describe_endpoint(EndpointName="whisper")
    assert result.status == described["EndpointStatus"]  # moto: InService at once


def test_wait_times_out_with_exit_code_3(moto_clients) -> None:
    sagemaker = moto_clients.client("sagemaker")
    now = [0.0]
    with Stubber(sagemaker) as stub:
        for _ in range(3):
            stub.add_response(
                "describe_endpoint",
                describe_response("Creating", "c1"),
                {"EndpointName": "whisper"},
            )

        def sleep(seconds: float) -> None:
            now[0] += seconds

        with pytest.raises(WaitTimeoutError) as info:
            wait_for_endpoint(
                moto_clients,
                "whisper",
                timeout=30,
                sleep=sleep,
                clock=lambda: now[0],
                backoff=Backoff(first=15, factor=1, cap=15, jitter=0),
            )
    assert info.value.exit_code == 3
    assert "wasync status" in (info.value.hint or "")


def test_status_reports_model_image_and_async_paths(moto_clients, multilingual_uri: str) -> None:
    plan = plan_deploy(moto_clients, request(cpu_encoder="torch-bfloat16", default_language="de"))
    deploy(moto_clients, plan, sleep=lambda s: None)
    report = endpoint_status(moto_clients)
    assert report.status == "InService"
    assert report.model_data == multilingual_uri and report.image == IMAGE
    assert report.max_concurrency == 2
    assert report.settings == {
        "WASYNC_CPU_ENCODER": "torch-bfloat16",
        "WASYNC_DEFAULT_LANGUAGE": "de",
        "WASYNC_MODEL_LANGUAGES": "multilingual",
    }
    assert report.autoscaling is None and report.backlog is None


def test_status_shows_only_wasyncs_own_settings_never_other_variables() -> None:
    environment = {
        "WASYNC_ENDPOINT_NAME": "whisper",
        "WASYNC_COMPUTE_TYPE": "float32",
        "HF_TOKEN": "hf_secret",  # a model made by hand
        "AWS_SECRET_ACCESS_KEY": "secret",
    }
    assert serving_settings(environment) == {"WASYNC_COMPUTE_TYPE": "float32"}


def test_status_of_missing_endpoint_is_not_found(moto_clients) -> None:
    with pytest.raises(NotFoundError, match="does not exist"):
        endpoint_status(moto_clients)


def test_delete_removes_everything_and_is_idempotent(moto_clients, model_uri: str) -> None:
    deploy(moto_clients, plan_deploy(moto_clients, request(notify=True)), sleep=lambda s: None)
    later = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)  # a deploy stopped after its model
    orphan = plan_deploy(moto_clients, request(notify=True, max_concurrency=3), now=later)
    moto_clients.client("sagemaker").create_model(**params(orphan, "create_model"))
    bucket = "sagemaker-us-east-1-123456789012"
    s3 = moto_clients.client("s3")
    s3.put_object(Bucket=bucket, Key="wasync/outputs/whisper/a.out", Body=b"x")
    result = delete_endpoint(moto_clients, topics=True, purge=True)
    sagemaker = moto_clients.client("sagemaker")
    assert "endpoint/whisper" in result.removed and f"model/{orphan.model_name}" in result.removed
    assert sagemaker.list_endpoints()["Endpoints"] == []
    assert sagemaker.list_endpoint_configs()["EndpointConfigs"] == []
    assert sagemaker.list_models()["Models"] == []
    assert moto_clients.client("sns").list_topics()["Topics"] == []
    assert result.purged_objects == 1
    assert s3.head_object(Bucket=bucket, Key=S3Key(model_uri))["ContentLength"] > 0  # models stay
    again = delete_endpoint(moto_clients, topics=True, purge=True)
    assert again.removed == () and again.purged_objects == 0


def S3Key(uri: str) -> str:
    return uri.split("/", 3)[3]
