"""Credentials out of what wasync prints: a URL may carry a user and password
(`http://user:secret@host`), in a setting, or inside botocore's and httpx's error messages."""

from __future__ import annotations

import re

_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^/\s@\"'<>]+@")


def hide_credentials(text: str) -> str:
    """`text` with the user and password of every URL in it replaced by ***."""
    return _USERINFO.sub(r"\g<scheme>***@", text)
