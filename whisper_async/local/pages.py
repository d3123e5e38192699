"""What the listings the stack answers itself share: one page, with AWS's opaque NextToken
(here an offset), and the time bounds their requests filter by."""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar

from ..digits import whole_number

T = TypeVar("T")


class BadPageToken(ValueError):
    """A NextToken this listing did not hand out."""


def page_of(found: list[T], token: Any, size: int) -> tuple[list[T], str | None]:
    """(this page, the next page's token or None); a token that is no offset into `found` is
    refused, as AWS refuses one it did not issue (not a 500 from int())."""
    text = str(token or "0")
    start = whole_number(text)
    # only the tokens handed out: '01' is no token this listing wrote
    if start is None or start > len(found) or str(start) != text:
        raise BadPageToken(f"Invalid NextToken: {text[:100]}")
    end = start + size
    return found[start:end], (str(end) if end < len(found) else None)


def request_seconds(value: Any) -> float:
    """A request's timestamp in epoch seconds: a datetime (moto's parsing), a number (as
    botocore's JSON protocol sends it) or ISO 8601 text (a hand-written client)."""
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, int | float):
        return float(value)
    else:
        moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return aware(moment).timestamp()


def aware(moment: dt.datetime) -> dt.datetime:
    """`moment` with a time zone: AWS means UTC where a timestamp names none."""
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)
