"""A test switch: InvokeEndpointAsync answers ThrottlingException for a fraction of calls.

SageMaker throttles a client that calls too fast; a client must slow down and retry, and
never fail a job for it. Tests and benchmarks turn this on per endpoint, at run time:

    curl -X PUT $AWS_ENDPOINT_URL_SAGEMAKER/_wasync/endpoints/NAME/throttle -d '{"fraction": 0.3}'

The choice is deterministic (every call that takes the running share over `fraction`), so a
test sees exactly that share. It is off until set, and never on in normal use.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class Throttles:
    def __init__(self) -> None:
        self._fraction: dict[str, float] = {}
        self._calls: Counter[str] = Counter()
        self._throttled: Counter[str] = Counter()
        self._accepted: Counter[str] = Counter()
        self._lock = threading.Lock()

    def set(self, endpoint: str, fraction: float) -> None:
        if not 0 <= fraction < 1:
            raise ValueError(f"fraction must be at least 0 and below 1, not {fraction}")
        with self._lock:
            self._fraction[endpoint] = fraction

    def refuse(self, endpoint: str) -> bool:
        """True when this call is to be throttled."""
        with self._lock:
            fraction = self._fraction.get(endpoint, 0.0)
            calls = self._calls[endpoint]
            self._calls[endpoint] = calls + 1
            refused = int((calls + 1) * fraction) > int(calls * fraction)
            if refused:
                self._throttled[endpoint] += 1
            return refused

    def accepted(self, endpoint: str) -> None:
        with self._lock:
            self._accepted[endpoint] += 1

    def describe(self, endpoint: str) -> dict[str, Any]:
        """For /_wasync/status: invocations accepted and throttled, and the switch."""
        with self._lock:
            return {
                "invocations": self._accepted[endpoint],
                "throttled": self._throttled[endpoint],
                "throttle_fraction": self._fraction.get(endpoint, 0.0),
            }
