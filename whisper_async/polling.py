"""Exponential backoff with jitter, capped: the one poll loop wasync uses for S3 results."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    first: float = 1.0
    factor: float = 1.6
    cap: float = 20.0
    jitter: float = 0.25  # +-25 %, so many clients do not poll in lockstep

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        rng = rng or random.Random()  # noqa: S311 - jitter, not security
        delay = self.first
        while True:
            yield max(0.05, delay * (1 + rng.uniform(-self.jitter, self.jitter)))
            delay = min(self.cap, delay * self.factor)


RESULT_BACKOFF = Backoff()


def poll_until(
    check: Callable[[], T | None],
    timeout: float,
    backoff: Backoff = RESULT_BACKOFF,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T | None:
    """Call `check` until it returns something other than None, or `timeout` passes."""
    deadline = clock() + timeout
    for delay in backoff.delays():
        result = check()
        if result is not None:
            return result
        remaining = deadline - clock()
        if remaining <= 0:
            return None
        sleep(min(delay, remaining))
    return None  # pragma: no cover - delays() never ends
