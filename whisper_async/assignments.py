"""NAME=VALUE options (`deploy --env`, `build --build-arg`), split and their names checked."""

from __future__ import annotations

import re

from .errors import UsageError

VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,1023}\Z")


def split_assignment(text: str, option: str, example: str) -> tuple[str, str]:
    """(NAME, VALUE) of `text`, or a usage error that shows the form with `example`."""
    name, equals, value = text.partition("=")
    if not equals or not VARIABLE_NAME.match(name):
        raise UsageError(f"{option} {text!r} is not NAME=VALUE", f"e.g. {option} {example}")
    return name, value
