"""JSON that another party wrote: results and failures in S3, log lines, SNS messages, heartbeats.
Anyone who may write the bucket or publish to the topic can put anything there."""

from __future__ import annotations

import json
from typing import Any


def parsed_json(text: str | bytes) -> Any | None:
    """The JSON value of `text`, or None when it is not JSON. Nesting deeper than Python's
    recursion limit ("[" x 1,000) raises RecursionError rather than ValueError, which ended a
    whole `logs --requests` listing and made a forged result an "unexpected" error."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None
