"""Credentials out of what wasync prints: a URL may carry a user and password
(`http://user:secret@host`), in a setting, or inside botocore's and httpx's error messages."""

from __future__ import annotations

import re

# Up to the last "@" before the host: a password may hold "'" (RFC 3986 allows it) and, against
# the RFC but accepted by clients, "@". A JSON-escaped quote (\") is part of it; a bare " ends a
# JSON string.
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?:[^/\s\"\\]|\\.)*@")


def hide_credentials(text: str) -> str:
    """`text` with the user and password of every URL in it replaced by ***."""
    return _USERINFO.sub(r"\g<scheme>***@", text)
