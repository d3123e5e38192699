"""logs: read (and follow) the endpoint's CloudWatch log group."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from . import naming
from .clients import Clients
from .errors import NotFoundError, UsageError, error_code

_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int:
    """`90s`, `10m`, `1h`, `2d` (or plain seconds) to seconds."""
    text = text.strip().lower()
    if text.isdigit():
        return int(text)
    match = _DURATION.match(text)
    if not match:
        raise UsageError(f"{text!r} is not a duration", "use e.g. 90s, 10m, 1h or 2d")
    return int(match.group(1)) * _UNITS[match.group(2)]


@dataclass(frozen=True)
class LogEvent:
    timestamp: int
    stream: str
    message: str


def read_events(
    clients: Clients,
    since_seconds: int = 600,
    follow: bool = False,
    poll: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
) -> Iterator[LogEvent]:
    """Events from the endpoint's log group, oldest first; with `follow`, forever."""
    logs = clients.client("logs")
    group = naming.log_group(clients.settings.endpoint)
    start = int((clock() - since_seconds) * 1000)
    seen: set[str] = set()
    while True:
        params = {"logGroupName": group, "startTime": start, "interleaved": True}
        try:
            for page in logs.get_paginator("filter_log_events").paginate(**params):
                for event in page.get("events", []):
                    if event["eventId"] in seen:
                        continue
                    seen.add(event["eventId"])
                    start = max(start, int(event["timestamp"]))
                    yield LogEvent(
                        int(event["timestamp"]),
                        event.get("logStreamName", ""),
                        event["message"].rstrip("\n"),
                    )
        except Exception as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise
            if not follow:
                raise NotFoundError(
                    f"No logs for endpoint {clients.settings.endpoint} yet ({group}).",
                    "logs appear once an instance has started",
                ) from exc
        if not follow:
            return
        sleep(poll)
