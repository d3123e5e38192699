"""One page of a list the stack adds to moto, with AWS's opaque NextToken (here an offset)."""

from __future__ import annotations

from typing import Any, TypeVar

T = TypeVar("T")


class BadPageToken(ValueError):
    """A NextToken this listing did not hand out."""


def page_of(found: list[T], token: Any, size: int) -> tuple[list[T], str | None]:
    """(this page, the next page's token or None); a token that is no offset into `found` is
    refused, as AWS refuses one it did not issue (not a 500 from int())."""
    text = str(token or "0")
    if not text.isdigit() or int(text) > len(found):
        raise BadPageToken(f"Invalid NextToken: {text[:100]}")
    start = int(text)
    end = start + size
    return found[start:end], (str(end) if end < len(found) else None)
