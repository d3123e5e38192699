"""The user policy `wasync iam` prints grants every AWS call the CLI makes. A call added to a
command without its action in the policy works everywhere but on AWS under that policy: deploy's
clean-up and delete called ListModels, which the policy lacked, found by a stranger's trial.

Every botocore call of a lifecycle through the local stack is recorded (the calls go through)
and mapped to the IAM action it needs; the check is of actions, not of resource scopes."""

from __future__ import annotations

import fnmatch
import json
import os
from pathlib import Path
from typing import Any

import pytest
from botocore.client import BaseClient

pytestmark = pytest.mark.slow

# IAM action prefixes that differ from botocore's signing names
PREFIXES = {"monitoring": "cloudwatch"}
# S3 operations whose IAM action has another name
S3_ACTIONS = {
    "ListObjectsV2": "ListBucket",
    "ListObjects": "ListBucket",
    "HeadBucket": "ListBucket",
    "HeadObject": "GetObject",
    "CreateMultipartUpload": "PutObject",
    "UploadPart": "PutObject",
    "CompleteMultipartUpload": "PutObject",
    "CopyObject": "PutObject",
    "DeleteObjects": "DeleteObject",
    "ListMultipartUploads": "ListBucketMultipartUploads",
    "PutBucketLifecycleConfiguration": "PutLifecycleConfiguration",
    "GetBucketLifecycleConfiguration": "GetLifecycleConfiguration",
    "PutPublicAccessBlock": "PutBucketPublicAccessBlock",
}


def action_of(signing_name: str, operation: str) -> str:
    prefix = PREFIXES.get(signing_name, signing_name)
    name = S3_ACTIONS.get(operation, operation) if prefix == "s3" else operation
    return f"{prefix}:{name}"


def granted(policy: dict[str, Any]) -> list[str]:
    return [
        action
        for statement in policy["Statement"]
        if statement["Effect"] == "Allow"
        for action in statement["Action"]
    ]


def test_the_user_policy_grants_every_call_of_a_lifecycle(
    local_stack, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: set[tuple[str, str]] = set()
    make_call = BaseClient._make_api_call

    def recording(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        calls.add((client.meta.service_model.signing_name, operation))
        return make_call(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recording)
    name = f"iam{os.getpid()}"
    clip = str(data_dir / "en_short.wav")
    steps = [
        ("deploy", "--notify"),
        ("deploy", "--notify", "--max-concurrency", "2"),  # an update, then its clean-up
        ("autoscale", "--min", "0", "--max", "1"),
        ("status",),
        ("--json", "transcribe", clip, "--wait", "--rerun", "-o", str(tmp_path)),
        ("jobs", "--since", "1h"),
        ("logs", "--since", "1h"),
        ("autoscale", "--off"),
        ("delete", "--yes", "--topics"),
    ]
    try:
        for step in steps:
            done = local_stack.cli("-e", name, *step)
            assert done.exit_code == 0, (step, done.output)
            if step[0] == "--json":
                job = json.loads(done.stdout.splitlines()[0])["id"]
                fetched = local_stack.cli("-e", name, "fetch", job)
                assert fetched.exit_code == 0, fetched.output
    finally:
        local_stack.cli("-e", name, "delete", "--yes")
    monkeypatch.undo()  # the policy is read without recording
    printed = local_stack.cli("--json", "iam")
    assert printed.exit_code == 0, printed.output
    allowed = granted(json.loads(printed.stdout)["user_policy"])
    needed = {action_of(*call) for call in calls}
    missing = sorted(a for a in needed if not any(fnmatch.fnmatch(a, g) for g in allowed))
    assert len(needed) > 20, needed  # the lifecycle ran through the policy's services
    assert not missing, f"the user policy lacks {missing}"
