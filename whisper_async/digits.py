"""Numbers in text: whole numbers from people and peers (ASCII digits only, as HTTP and AWS
mean them), and sizes as people read them."""

from __future__ import annotations

import re

# str.isdigit passes '²', which int() refuses, and int() reads other scripts' digits ('\u0665');
# int() refuses more than 4,300 digits (h11 takes a Content-Length of 20)
_DIGITS = re.compile(r"[0-9]{1,4000}")


def whole_number(text: str) -> int | None:
    """The non-negative integer `text` spells in ASCII digits (at most 4,000), else None."""
    return int(text) if _DIGITS.fullmatch(text) else None


def human_size(count: int) -> str:
    """A byte count as people read it: 512 B, 1.5 KiB, 128.0 MiB."""
    if count < 1024:
        return f"{count} B"
    size = float(count)
    for unit in ("KiB", "MiB", "GiB"):
        size /= 1024
        if size < 1024 or unit == "GiB":
            break
    return f"{size:.1f} {unit}"
