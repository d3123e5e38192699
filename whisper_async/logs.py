"""logs: read (and follow) the endpoint's CloudWatch log group."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from . import naming
from .clients import Clients
from .errors import NotFoundError


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
        except NotFoundError as exc:  # the log group appears with the first instance
            if not follow:
                raise NotFoundError(
                    f"No logs for endpoint {clients.settings.endpoint} yet ({group}).",
                    "logs appear once an instance has started",
                ) from exc
        if not follow:
            return
        sleep(poll)
