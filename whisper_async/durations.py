"""Durations as users type them (`90s`, `10m`, `1h`, `2d`), for every command that takes one."""

from __future__ import annotations

import re

from .digits import whole_number
from .errors import UsageError, quoted

_DURATION = re.compile(r"^([0-9]+)([smhd])\Z")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# Longer makes no sense for any option, and the dates computed from it overflow (--since 99999999d)
LONGEST_SECONDS = 100 * 365 * 86400


def parse_duration(text: str) -> int:
    """`90s`, `10m`, `1h`, `2d` (or plain seconds) to seconds."""
    text = text.strip().lower()
    match = _DURATION.match(text)
    number = whole_number(match.group(1) if match else text)
    seconds = None if number is None else number * (_UNITS[match.group(2)] if match else 1)
    if seconds is None:
        raise UsageError(f"{quoted(text)} is not a duration", "use e.g. 90s, 10m, 1h or 2d")
    if seconds > LONGEST_SECONDS:
        raise UsageError(f"{quoted(text)} is longer than 100 years", "use e.g. 90s, 10m, 1h or 2d")
    return seconds


def format_duration(seconds: float) -> str:
    """Seconds as a person reads them: `45s`, `3m 05s`, `2h 10m`."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    return f"{whole // 3600}h {whole % 3600 // 60:02d}m"
