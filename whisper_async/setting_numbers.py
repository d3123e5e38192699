"""The rule for the serving container's numeric WASYNC_* settings, shared by the server that
reads them and by `deploy --env`, which checks them before a container could refuse them."""

from __future__ import annotations

from collections.abc import Mapping

DAY = 24 * 3600.0
MOST_BYTES = 2.0**40


def number(environ: Mapping[str, str], name: str, default: float, most: float = DAY) -> float:
    """A positive setting up to `most`: nan, inf and 1e400 would pass `float` and fail every
    request later (a window of 1e9 s asks for more memory than any machine has)."""
    raw = environ.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number") from None
    if not value > 0:  # nan too
        raise ValueError(f"{name}={raw!r} must be above 0")
    if value > most:
        raise ValueError(f"{name}={raw!r} must be at most {most:g}")
    return value


def most_for(name: str) -> float | None:
    """The bound of a numeric server setting by its name's unit; None for other names."""
    if not name.startswith("WASYNC_"):
        return None
    if name.endswith("_BYTES"):
        return MOST_BYTES
    return DAY if name.endswith("_SECONDS") else None
