"""Whole numbers in text from people and peers: ASCII digits only, as HTTP and AWS mean them."""

from __future__ import annotations

import re

# str.isdigit passes '²', which int() refuses, and int() reads other scripts' digits ('\u0665')
_DIGITS = re.compile(r"[0-9]{1,18}")


def whole_number(text: str) -> int | None:
    """The non-negative integer `text` spells in ASCII digits (at most 18), else None."""
    return int(text) if _DIGITS.fullmatch(text) else None
