"""The emulator validates as AWS does: botocore's patterns match whole values."""

from __future__ import annotations

import botocore.session
import pytest
from botocore.model import Shape

from whisper_async.local.control import ControlPlane
from whisper_async.local.validation import ValidationError, pattern, validate

SAGEMAKER = botocore.session.get_session().get_service_model("sagemaker")
RUNTIME = botocore.session.get_session().get_service_model("sagemaker-runtime")


def patterns(shape: Shape, seen: set[str], depth: int = 0) -> set[str]:
    found = {shape.metadata["pattern"]} if "pattern" in shape.metadata else set()
    if depth > 10 or shape.name in seen:
        return found
    seen = seen | {shape.name}
    children = {
        "structure": lambda: list(shape.members.values()),  # type: ignore[attr-defined]
        "list": lambda: [shape.member],  # type: ignore[attr-defined]
        "map": lambda: [shape.key, shape.value],  # type: ignore[attr-defined]
    }.get(shape.type_name, list)()
    for child in children:
        found |= patterns(child, seen, depth + 1)
    return found


def emulated_operations() -> list[tuple[object, str]]:
    operations = [(SAGEMAKER, name[3:]) for name in dir(ControlPlane) if name.startswith("op_")]
    return [*operations, (RUNTIME, "InvokeEndpointAsync")]


def test_every_pattern_of_every_emulated_operation_is_checked() -> None:
    found: set[str] = set()
    for service, operation in emulated_operations():
        shape = service.operation_model(operation).input_shape  # type: ignore[attr-defined]
        found |= patterns(shape, set())
    assert len(found) > 20
    for raw in found:
        pattern(raw)  # raises for a Java class it cannot translate: nothing is skipped


@pytest.mark.parametrize(
    ("operation", "params", "member"),
    [
        ("CreateEndpoint", {"EndpointName": "../../../../tmp/x/epname"}, "EndpointName"),
        ("CreateEndpoint", {"EndpointName": "a/../../b"}, "EndpointName"),
        ("CreateEndpoint", {"EndpointName": "ok", "EndpointConfigName": "c/../../x"}, None),
        ("CreateEndpointConfig", {"EndpointConfigName": "/tmp/abs"}, "EndpointConfigName"),
        ("CreateModel", {"ModelName": "../m"}, "ModelName"),
        ("DeleteEndpoint", {"EndpointName": "ep\n"}, "EndpointName"),
    ],
)
def test_names_that_would_be_paths_are_refused(
    operation: str, params: dict[str, str], member: str | None
) -> None:
    defaults = {
        "CreateEndpoint": {"EndpointName": "ep", "EndpointConfigName": "cfg"},
        "CreateEndpointConfig": {
            "EndpointConfigName": "cfg",
            "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": "m"}],
        },
        "CreateModel": {"ModelName": "m", "ExecutionRoleArn": "arn:aws:iam::123456789012:role/r"},
        "DeleteEndpoint": {"EndpointName": "ep"},
    }[operation]
    with pytest.raises(ValidationError) as refused:
        validate(SAGEMAKER.operation_model(operation), {**defaults, **params})
    assert "failed to satisfy constraint" in str(refused.value)
    assert (member or "EndpointConfigName") in str(refused.value)


def test_good_requests_pass_with_unicode_tags_and_environment() -> None:
    validate(
        SAGEMAKER.operation_model("CreateModel"),
        {
            "ModelName": "whisper-2024-01-01-abc",
            "ExecutionRoleArn": "arn:aws:iam::123456789012:role/wasync",
            "PrimaryContainer": {
                "Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/wasync:1",
                "ModelDataUrl": "s3://bucket/models/tiny/model.tar.gz",
                "Environment": {"WASYNC_MAX_CONCURRENCY": "2", "_X": "any value at all"},
            },
            "Tags": [{"Key": "équipe", "Value": "Ünïcode 12 _.:/=+-@ ok"}],
        },
    )


def test_environment_keys_are_checked() -> None:
    with pytest.raises(ValidationError, match="Environment"):
        validate(
            SAGEMAKER.operation_model("CreateModel"),
            {
                "ModelName": "m",
                "ExecutionRoleArn": "arn:aws:iam::123456789012:role/r",
                "PrimaryContainer": {"Environment": {"BAD-NAME": "x"}},
            },
        )
