"""Exponential backoff with jitter, capped: the delays between wasync's polls."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass


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


RESULT_BACKOFF = Backoff(first=0.5, factor=1.5, cap=20.0)
