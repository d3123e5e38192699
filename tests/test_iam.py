from __future__ import annotations

import json

from whisper_async import iam
from whisper_async.clients import Clients


def statement(document: dict, sid: str) -> dict:
    return next(s for s in document["Statement"] if s["Sid"] == sid)


def test_execution_role_is_least_privilege(moto_clients) -> None:
    docs = iam.documents(moto_clients)
    trusted = docs.trust_policy["Statement"][0]
    assert trusted["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    # Only on this account's behalf: no confused deputy for another account's SageMaker work.
    assert trusted["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}
    policy = docs.execution_policy
    bucket = "arn:aws:s3:::sagemaker-us-east-1-123456789012"
    assert statement(policy, "ReadModelsAndInputs")["Resource"] == [
        f"{bucket}/wasync/models/*",
        f"{bucket}/wasync/inputs/*",
    ]
    assert statement(policy, "ReadModelsAndInputs")["Action"] == ["s3:GetObject"]
    assert statement(policy, "WriteResults")["Resource"] == [
        f"{bucket}/wasync/outputs/*",
        f"{bucket}/wasync/failures/*",
    ]
    assert statement(policy, "Notify")["Resource"] == [
        "arn:aws:sns:us-east-1:123456789012:wasync-*"
    ]
    for entry in policy["Statement"]:
        assert not any(action.endswith(":*") for action in entry["Action"]), entry
        if entry["Resource"] == ["*"]:
            assert entry["Sid"] in {"EcrToken", "Metrics"}


def test_user_policy_passes_only_the_role_to_sagemaker(moto_clients) -> None:
    policy = iam.documents(moto_clients).user_policy
    passrole = statement(policy, "PassRole")
    assert passrole["Resource"] == ["arn:aws:iam::123456789012:role/wasync-sagemaker-execution"]
    assert passrole["Condition"] == {
        "StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}
    }


def test_create_role_is_idempotent_and_remembered(moto_clients) -> None:
    first = iam.create_role(moto_clients)
    second = iam.create_role(moto_clients)
    assert first.role_arn == second.role_arn
    assert first.changes[0].startswith("create role wasync-sagemaker-execution")
    assert second.changes == ()  # up to date: `iam --create` says so instead of "created"
    client = moto_clients.client("iam")
    inline = client.get_role_policy(
        RoleName="wasync-sagemaker-execution", PolicyName="wasync-execution"
    )
    document = inline["PolicyDocument"]
    document = json.loads(document) if isinstance(document, str) else document
    assert document == first.execution_policy
    from whisper_async.state import recall

    assert recall(moto_clients.settings, "us-east-1", "role_arn") == first.role_arn


READ_VERBS = ("Describe", "List", "Get", "BatchGet", "BatchCheck", "Head")


def all_documents(docs: iam.IamDocuments) -> dict[str, dict]:
    return {
        "trust": docs.trust_policy,
        "execution": docs.execution_policy,
        "user": docs.user_policy,
    }


def test_no_write_action_is_granted_on_every_resource_without_a_condition(moto_clients) -> None:
    for name, document in all_documents(iam.documents(moto_clients)).items():
        if name == "trust":
            continue
        for entry in document["Statement"]:
            actions = entry["Action"] if isinstance(entry["Action"], list) else [entry["Action"]]
            writes = [a for a in actions if not a.split(":", 1)[1].startswith(READ_VERBS)]
            if "*" in entry["Resource"] and writes:
                assert entry.get("Condition"), (name, entry["Sid"], writes)


def test_moto_iam_accepts_every_document(moto_clients) -> None:
    client = moto_clients.client("iam")
    docs = iam.documents(
        moto_clients, "https://sqs.us-east-1.amazonaws.com/123456789012/team-queue"
    )
    for name, document in all_documents(docs).items():
        if name == "trust":
            client.create_role(RoleName="probe", AssumeRolePolicyDocument=json.dumps(document))
        else:
            client.create_policy(PolicyName=f"wasync-{name}", PolicyDocument=json.dumps(document))


def test_sagemaker_changes_only_to_what_wasync_tagged(moto_clients) -> None:
    policy = iam.documents(moto_clients).user_policy
    change = statement(policy, "SageMakerChangeOwn")
    assert set(change["Action"]) == {
        "sagemaker:UpdateEndpoint",
        "sagemaker:UpdateEndpointWeightsAndCapacities",  # asked of who registers a variant
        "sagemaker:DeleteEndpoint",
        "sagemaker:DeleteEndpointConfig",
        "sagemaker:DeleteModel",
    }
    assert change["Condition"] == {"StringEquals": {"aws:ResourceTag/managed-by": "wasync"}}
    create = statement(policy, "SageMakerCreateTagged")
    assert create["Condition"] == {"StringEquals": {"aws:RequestTag/managed-by": "wasync"}}
    invoke = statement(policy, "InvokeOwn")  # work is sent only to wasync's endpoints
    assert invoke["Action"] == ["sagemaker:InvokeEndpointAsync"]
    assert invoke["Condition"] == change["Condition"]
    assert invoke["Resource"] == ["arn:aws:sagemaker:us-east-1:123456789012:endpoint/*"]
    granted = [a for s in policy["Statement"] for a in s["Action"]]
    assert granted.count("sagemaker:InvokeEndpointAsync") == 1
    assert not {
        a for a in granted if a.startswith("sagemaker:") and ("Delete" in a or "Update" in a)
    } - set(change["Action"])


def test_autoscaling_writes_are_limited_to_sagemaker_variants_and_the_reason_is_given(
    moto_clients,
) -> None:
    docs = iam.documents(moto_clients)
    writes = statement(docs.user_policy, "AutoscalingVariants")
    assert writes["Condition"]["StringEquals"] == {
        "application-autoscaling:service-namespace": "sagemaker",
        "application-autoscaling:scalable-dimension": "sagemaker:variant:DesiredInstanceCount",
    }
    assert any("scalable-target/ID" in note for note in docs.notes)
    from typer.testing import CliRunner

    from whisper_async.cli.app import app

    printed = CliRunner().invoke(app, ["iam"])
    assert printed.exit_code == 0 and "does not allow" in printed.stdout


def test_notify_queue_permissions_are_scoped_to_the_queue_and_nothing_subscribes(
    moto_clients,
) -> None:
    queue = "https://sqs.us-east-1.amazonaws.com/123456789012/team-queue"
    policy = iam.documents(moto_clients, queue).user_policy
    sqs = statement(policy, "NotificationQueue")
    assert sqs["Resource"] == ["arn:aws:sqs:us-east-1:123456789012:team-queue"]
    assert set(sqs["Action"]) == {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes",
    }
    granted = {a for s in policy["Statement"] for a in s["Action"]}
    assert "sns:Subscribe" not in granted
    default = statement(iam.documents(moto_clients).user_policy, "NotificationQueue")
    assert default["Resource"] == ["arn:aws:sqs:us-east-1:123456789012:wasync-*"]


def test_a_queue_that_is_not_a_url_is_refused(moto_clients) -> None:
    from typer.testing import CliRunner

    from whisper_async.cli.app import app

    result = CliRunner().invoke(app, ["iam", "--notify-queue", "team-queue"])
    assert result.exit_code == 2 and "is not an SQS queue URL" in result.stderr


def test_objects_are_granted_only_in_wasyncs_folders_even_with_an_empty_prefix(
    moto_clients,
) -> None:
    from whisper_async.clients import Clients
    from whisper_async.settings import resolve

    bucket = "arn:aws:s3:::sagemaker-us-east-1-123456789012"
    folders = ("models", "inputs", "outputs", "failures", "jobs", "batches")
    for prefix, root in (("wasync/", f"{bucket}/wasync/"), ("", f"{bucket}/")):
        docs = iam.documents(Clients(resolve({"prefix": prefix})))
        granted = statement(docs.user_policy, "ReadObjects")["Resource"]
        assert granted == [f"{root}{folder}/*" for folder in folders]
        written = statement(docs.user_policy, "WriteObjects")["Resource"]
        assert written == [
            f"{root}{folder}/*" for folder in ("models", "inputs", "jobs", "batches")
        ]
        listed = statement(docs.execution_policy, "ListOwnPrefix")["Condition"]["StringLike"]
        assert listed["s3:prefix"] == [f"{prefix}{folder}/*" for folder in folders]
        everything = [
            resource
            for name, document in all_documents(docs).items()
            if name != "trust"
            for entry in document["Statement"]
            for resource in entry["Resource"]
        ]
        assert f"{bucket}/*" not in everything


def test_bucket_setup_is_granted_only_while_the_bucket_does_not_exist(moto_clients) -> None:
    setup = {"s3:CreateBucket", "s3:PutBucketPublicAccessBlock", "s3:PutLifecycleConfiguration"}
    before = iam.documents(moto_clients)
    assert setup <= set(statement(before.user_policy, "Bucket")["Action"])
    assert any("does not exist yet" in note for note in before.notes)

    moto_clients.client("s3").create_bucket(Bucket=moto_clients.bucket)
    after = iam.documents(moto_clients)
    assert statement(after.user_policy, "Bucket")["Action"] == ["s3:ListBucket"]
    assert not any("does not exist yet" in note for note in after.notes)


def test_autoscale_may_create_only_its_service_linked_role_and_resize_variants(
    moto_clients,
) -> None:
    """The first RegisterScalableTarget in an account creates Application Auto Scaling's role
    for SageMaker, and AWS checks that its caller may resize the variant itself."""
    policy = iam.documents(moto_clients).user_policy
    role = statement(policy, "AutoscalingServiceRole")
    assert role["Action"] == ["iam:CreateServiceLinkedRole"]
    assert role["Resource"] == [
        "arn:aws:iam::123456789012:role/aws-service-role/"
        "sagemaker.application-autoscaling.amazonaws.com/"
        "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
    ]
    assert role["Condition"] == {
        "StringLike": {"iam:AWSServiceName": "sagemaker.application-autoscaling.amazonaws.com"}
    }
    assert (
        "sagemaker:UpdateEndpointWeightsAndCapacities"
        in statement(policy, "SageMakerChangeOwn")["Action"]
    )
    ecr = statement(policy, "Ecr")["Action"]
    assert {"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"} <= set(ecr)  # image engines


def test_on_the_local_profile_the_documents_say_they_are_for_an_aws_account(moto_clients) -> None:
    """The local stack checks no IAM: `wasync iam` there must not read as the stack's setup."""
    import dataclasses

    import boto3

    local = Clients(dataclasses.replace(moto_clients.settings, profile="local"), boto3.Session())
    docs = iam.documents(local)
    assert "local stack checks no IAM permissions" in docs.notes[0]
    assert docs.role_arn == iam.documents(moto_clients).role_arn  # an AWS account's role
    assert not any("local stack" in note for note in iam.documents(moto_clients).notes)


def test_the_role_may_pull_the_configured_image_from_its_own_repository(moto_clients) -> None:
    """`--image-uri` in another repository was ignored: the role could pull only from wasync's,
    and the endpoint would fail to start."""
    from whisper_async.settings import resolve

    own = "arn:aws:ecr:us-east-1:123456789012:repository/wasync"
    assert statement(iam.documents(moto_clients).execution_policy, "PullImage")["Resource"] == [own]
    for image, repository in [
        ("123456789012.dkr.ecr.us-east-1.amazonaws.com/team/asr:v1", "team/asr"),
        (f"123456789012.dkr.ecr.us-east-1.amazonaws.com/asr@sha256:{'a' * 64}", "asr"),
    ]:
        clients = Clients(resolve({"image_uri": image}))
        pulled = statement(iam.documents(clients).execution_policy, "PullImage")["Resource"]
        assert pulled == [own, f"arn:aws:ecr:us-east-1:123456789012:repository/{repository}"]
    wasyncs = Clients(
        resolve({"image_uri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/wasync:2"})
    )
    assert statement(iam.documents(wasyncs).execution_policy, "PullImage")["Resource"] == [own]
