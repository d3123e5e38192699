"""Credentials out of what wasync prints: a URL may carry a user and password
(`http://user:secret@host`), in a setting, or inside botocore's and httpx's error messages."""

from __future__ import annotations

import re
import string

_SCHEME_CHARS = frozenset(string.ascii_letters + string.digits + "+.-")
# From "://" up to the last "@" before the host: a password may hold "'" (RFC 3986 allows it)
# and, against the RFC but accepted by clients, "@". A JSON-escaped quote (\") is part of it; a
# bare " ends a JSON string. Every "://" holds a "/", which ends this, so each scan stops at the
# next "://": the whole text is read in linear time (a regex that found the scheme first backed
# off quadratically: 80 KB of "a.a.a." took 16 s in every --json document).
_USERINFO = re.compile(r"(?:[^/\s\"\\]|\\.)*@")


def hide_credentials(text: str) -> str:
    """`text` with the user and password of every URL in it replaced by ***."""
    parts: list[str] = []
    done = 0
    at = text.find("://")
    while at != -1:
        after = at + 3
        userinfo = _USERINFO.match(text, after) if at and text[at - 1] in _SCHEME_CHARS else None
        if userinfo is None:
            at = text.find("://", after)
            continue
        parts += [text[done:after], "***@"]
        done = userinfo.end()
        at = text.find("://", done)
    parts.append(text[done:])
    return "".join(parts)
