"""logs: read (and follow) the endpoint's CloudWatch log group, or only its request lines."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from . import naming, requestlog
from .clients import Clients
from .errors import NotFoundError
from .resources import find_endpoint


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
    start = max(0, int((clock() - since_seconds) * 1000))  # CloudWatch's times start at 1970
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
            endpoint = clients.settings.endpoint
            if not follow and find_endpoint(clients, endpoint) is None:
                raise NotFoundError(  # a typo in --endpoint, not logs still to come
                    f"Endpoint {endpoint} does not exist, and it left no logs ({group}).",
                    "check --endpoint (`wasync status` shows the endpoint in use), or deploy it",
                ) from exc
            if not follow:
                raise NotFoundError(
                    f"No logs for endpoint {clients.settings.endpoint} yet ({group}).",
                    "logs appear once an instance has started",
                ) from exc
        if not follow:
            return
        sleep(poll)


@dataclass(frozen=True)
class RequestLine:
    """One request the serving container answered, from its JSON request line (docs/serving.md)."""

    timestamp: int
    stream: str
    inference_id: str | None
    status: int | None
    outcome: str | None
    message: str | None
    audio_seconds: float | None
    processing_seconds: float | None
    real_time_factor: float | None
    request_seconds: float | None
    engine: str | None
    model: str | None
    language: str | None
    options: dict[str, Any] | None


def request_lines(events: Iterable[LogEvent]) -> Iterator[RequestLine]:
    """The request lines among `events`; every other line is skipped."""
    for event in events:
        record = requestlog.parse_line(event.message)
        if record is None:
            continue
        options = record.get("Options")
        yield RequestLine(
            timestamp=event.timestamp,
            stream=event.stream,
            inference_id=_text(record.get("InferenceId")),
            status=_number(record.get("Status"), int),
            outcome=_text(record.get("Outcome")),
            message=_text(record.get("Message")),
            audio_seconds=_number(record.get("AudioSeconds"), float),
            processing_seconds=_number(record.get("ProcessingSeconds"), float),
            real_time_factor=_number(record.get("RealTimeFactor"), float),
            request_seconds=_number(record.get("RequestSeconds"), float),
            engine=_text(record.get("Engine")),
            model=_text(record.get("Model")),
            language=_text(record.get("Language")),
            options=options if isinstance(options, dict) else None,
        )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _number(value: Any, kind: Callable[[Any], Any]) -> Any:
    """A number a line says, or None when it says none (or something that is not one)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return kind(value)
