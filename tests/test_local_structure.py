"""The local stack stays in parts that each do one thing (issue 14): no class over 200 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import whisper_async.local

LOCAL = Path(whisper_async.local.__file__).parent


def test_no_class_in_the_local_stack_is_over_200_lines() -> None:
    sizes = {
        f"{path.name}:{node.name}": (node.end_lineno or node.lineno) - node.lineno + 1
        for path in sorted(LOCAL.glob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef)
    }
    assert "hosting.py:EndpointHost" in sizes and "control.py:ControlPlane" in sizes
    assert {name: size for name, size in sizes.items() if size > 200} == {}
