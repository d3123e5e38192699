"""Validate requests as AWS does, from botocore's service model (types, required, limits,
patterns).

AWS matches a pattern against the whole value (Java's `Pattern.matches`), so this does too:
`re.search` let `a/../../b` pass EndpointName's `^[a-zA-Z0-9](-*[a-zA-Z0-9])*`."""

from __future__ import annotations

import functools
import re
from typing import Any

from botocore.model import OperationModel, Shape
from botocore.validate import ParamValidator

from ..errors import UsageError
from ..storage import S3Uri


class ValidationError(ValueError):
    pass


# botocore's patterns use Java regex classes that Python's `re` lacks. Inside a character
# class, Python's `\w` is exactly Unicode letters, numbers and `_` (str.isalnum() or `_`),
# and \p{Z} is the fixed set of Unicode separators (Zs, Zl, Zp).
_JAVA_CLASSES = {
    r"[\p{Print}]": r"[\x20-\x7E]",
    r"[\p{ASCII}]": r"[\x00-\x7F]",
    r"\p{ASCII}": r"[\x00-\x7F]",
    r"\p{Print}": r"[\x20-\x7E]",
    r"\p{L}\p{Z}\p{N}": r"\w\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000",
    r"\A": "^",
    r"\z": "$",
}


@functools.cache
def pattern(raw: str) -> re.Pattern[str]:
    """botocore's pattern as a Python regex; an error for one we cannot translate, so that no
    pattern is silently skipped (a test compiles every pattern of the emulated operations)."""
    translated = raw
    for java, python in _JAVA_CLASSES.items():
        translated = translated.replace(java, python)
    if r"\p{" in translated:
        raise ValueError(f"no translation for the Java class in {raw!r}")
    return re.compile(translated)


def _check(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    meta = shape.metadata
    if shape.type_name == "string" and isinstance(value, str):
        allowed = getattr(shape, "enum", None)
        if allowed and value not in allowed:
            problems.append(
                f"Value '{value}' at '{path}' failed to satisfy constraint: Member must satisfy enum value set: [{', '.join(allowed)}]"
            )
        if "max" in meta and len(value) > meta["max"]:
            problems.append(
                f"Value at '{path}' failed to satisfy constraint: Member must have length less than or equal to {meta['max']}"
            )
        if "pattern" in meta and not pattern(meta["pattern"]).fullmatch(value):
            problems.append(
                f"Value '{value}' at '{path}' failed to satisfy constraint: Member must satisfy regular expression pattern: {meta['pattern']}"
            )
    elif shape.type_name in {"integer", "long"} and isinstance(value, bool):
        # botocore's validator takes True for 1 (bool is an int); AWS's JSON reader does not
        problems.append(
            f"Value '{value}' at '{path}' failed to satisfy constraint: Member must be an integer"
        )
    elif shape.type_name in {"integer", "long"} and isinstance(value, int):
        if "max" in meta and value > meta["max"]:
            problems.append(
                f"Value '{value}' at '{path}' failed to satisfy constraint: Member must have value less than or equal to {meta['max']}"
            )
    elif shape.type_name == "blob" and isinstance(value, bytes | bytearray):
        if "max" in meta and len(value) > meta["max"]:
            problems.append(
                f"Value at '{path}' failed to satisfy constraint: Member must have length less than or equal to {meta['max']}"
            )
    elif shape.type_name == "structure" and isinstance(value, dict):
        for name, member in shape.members.items():  # type: ignore[attr-defined]
            if name in value:
                _check(member, value[name], f"{path}.{name}" if path else name, problems)
    elif shape.type_name == "map" and isinstance(value, dict):
        for key, item in value.items():
            _check(shape.key, key, f"{path}.{key}", problems)  # type: ignore[attr-defined]
            _check(shape.value, item, f"{path}.{key}", problems)  # type: ignore[attr-defined]
    elif shape.type_name == "list" and isinstance(value, list):
        if "max" in meta and len(value) > meta["max"]:
            problems.append(
                f"Value at '{path}' failed to satisfy constraint: Member must have length less than or equal to {meta['max']}"
            )
        for index, item in enumerate(value):
            _check(shape.member, item, f"{path}.{index + 1}", problems)  # type: ignore[attr-defined]


def validate(operation: OperationModel, params: dict[str, Any]) -> None:
    shape = operation.input_shape
    assert shape is not None  # every operation we emulate takes input
    try:
        report = ParamValidator().validate(params, shape)
    except (RuntimeError, OverflowError) as exc:  # a timestamp past what datetime holds
        raise ValidationError(f"1 validation error detected: {exc}") from None
    problems = [report.generate_report()] if report.has_errors() else []
    _check(shape, params, "", problems)
    if problems:
        count = len(problems)
        raise ValidationError(
            f"{count} validation error{'s' if count > 1 else ''} detected: " + "; ".join(problems)
        )


def s3_location(value: str, field: str, folder: bool = False) -> S3Uri:
    """`value` as the object (or, with `folder`, the bucket or folder) it names; else a
    ValidationError: S3Uri.parse's UsageError escaped the emulator as a 500, which botocore
    retried. AWS also takes https:// locations; the stack refuses them by name."""
    try:
        return S3Uri.parse(value.rstrip("/") + "/-" if folder else value)
    except UsageError:
        shape = "s3://bucket/folder" if folder else "s3://bucket/key"
        raise ValidationError(
            f"{field} {value!r}: the local stack takes {shape} locations (not https://)"
        ) from None
