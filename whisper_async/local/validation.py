"""Validate requests as AWS does, from botocore's service model (types, required, limits)."""

from __future__ import annotations

import re
from typing import Any

from botocore.model import OperationModel, Shape
from botocore.validate import ParamValidator


class ValidationError(ValueError):
    pass


# botocore's patterns use Java regex classes that Python lacks.
_JAVA_CLASSES = {
    r"[\p{Print}]": r"[\x20-\x7E]",
    r"[\p{ASCII}]": r"[\x00-\x7F]",
    r"\p{ASCII}": r"[\x00-\x7F]",
    r"\p{Print}": r"[\x20-\x7E]",
    r"\A": "^",
    r"\z": "$",
}


def _pattern(raw: str) -> re.Pattern[str] | None:
    for java, python in _JAVA_CLASSES.items():
        raw = raw.replace(java, python)
    try:
        return re.compile(raw)
    except re.error:
        return None


def _check(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    meta = shape.metadata
    if shape.type_name == "string" and isinstance(value, str):
        if "max" in meta and len(value) > meta["max"]:
            problems.append(
                f"Value at '{path}' failed to satisfy constraint: Member must have length less than or equal to {meta['max']}"
            )
        pattern = _pattern(meta["pattern"]) if "pattern" in meta else None
        if pattern is not None and not pattern.search(value):
            problems.append(
                f"Value '{value}' at '{path}' failed to satisfy constraint: Member must satisfy regular expression pattern: {meta['pattern']}"
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
    report = ParamValidator().validate(params, shape)
    problems = [report.generate_report()] if report.has_errors() else []
    _check(shape, params, "", problems)
    if problems:
        count = len(problems)
        raise ValidationError(
            f"{count} validation error{'s' if count > 1 else ''} detected: " + "; ".join(problems)
        )
