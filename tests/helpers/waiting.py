"""Wait for a state, never for a number of seconds."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

# Only a bound for a state that never comes: generous, so a loaded machine still passes.
PATIENCE = 300.0


def wait_until(check: Callable[[], T], what: str, timeout: float = PATIENCE) -> T:
    """Return `check()`'s first truthy value; fail naming `what` if none came in `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout:.0f}s waiting for {what}")
        time.sleep(0.05)
