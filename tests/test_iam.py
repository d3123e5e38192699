from __future__ import annotations

import json

from whisper_async import iam


def statement(document: dict, sid: str) -> dict:
    return next(s for s in document["Statement"] if s["Sid"] == sid)


def test_execution_role_is_least_privilege(moto_clients) -> None:
    docs = iam.documents(moto_clients)
    assert docs.trust_policy["Statement"][0]["Principal"] == {"Service": "sagemaker.amazonaws.com"}
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
    client = moto_clients.client("iam")
    inline = client.get_role_policy(
        RoleName="wasync-sagemaker-execution", PolicyName="wasync-execution"
    )
    document = inline["PolicyDocument"]
    document = json.loads(document) if isinstance(document, str) else document
    assert document == first.execution_policy
    from whisper_async.state import recall

    assert recall(moto_clients.settings, "us-east-1", "role_arn") == first.role_arn
