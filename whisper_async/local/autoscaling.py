"""The stack's autoscaling service: a clock that ticks once per AWS minute, and the SageMaker
side the scaler resizes endpoints through.

On each tick every endpoint publishes its metrics for the minute that just ended (one
datapoint each, stamped inside that minute, as SageMaker publishes once a minute), and then
the scaler evaluates the alarms and acts. Doing both in one thread keeps their order: an
alarm never looks at a minute before its datapoint is in. A tick that comes late (a loaded
machine) still runs, and missed ticks are caught up, up to `CATCH_UP` minutes.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from .catalog import ApiError
from .scaler import CapacityRefused, Scaler, VariantCapacity
from .timescale import TimeScale

log = logging.getLogger("wasync.local")
CATCH_UP = 5  # minutes; after a longer stall (a suspended laptop) the clock jumps to now


class SageMakerCapacity:
    """The scaler's `Capacity`: DescribeEndpoint and UpdateEndpointWeightsAndCapacities on the
    emulator's control plane, validated as a client's calls are."""

    def __init__(self, call: Callable[[str, dict[str, Any]], dict[str, Any]]) -> None:
        self._call = call

    def variant(self, endpoint: str, variant: str) -> VariantCapacity | None:
        try:
            described = self._call("DescribeEndpoint", {"EndpointName": endpoint})
        except ApiError:
            return None
        for live in described.get("ProductionVariants", []):
            if live.get("VariantName") == variant:
                return VariantCapacity(
                    described["EndpointStatus"],
                    int(live.get("DesiredInstanceCount", 0)),
                    int(live.get("CurrentInstanceCount", 0)),
                    described.get("FailureReason"),
                    float(described.get("CreationTime", 0.0)),
                )
        return None

    def set_desired(self, endpoint: str, variant: str, count: int) -> None:
        wanted = {"VariantName": variant, "DesiredInstanceCount": count}
        try:
            self._call(
                "UpdateEndpointWeightsAndCapacities",
                {"EndpointName": endpoint, "DesiredWeightsAndCapacities": [wanted]},
            )
        except ApiError as refused:
            raise CapacityRefused(refused.message) from None


class MinuteClock:
    def __init__(
        self,
        time_scale: TimeScale,
        publishers: Callable[[], list[Any]],  # objects with publish_metrics(timestamp)
        scaler: Scaler,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.minute = time_scale.minute
        self.publishers = publishers
        self.scaler = scaler
        self.clock = clock

    def run(self, stop: threading.Event) -> None:
        boundary = math.ceil(self.clock() / self.minute) * self.minute
        while not stop.wait(max(0.0, boundary - self.clock())):
            if self.clock() - boundary > CATCH_UP * self.minute:
                log.warning("the minute clock fell behind; skipping to now")
                boundary = math.floor(self.clock() / self.minute) * self.minute
            self.tick(boundary)
            boundary += self.minute

    def tick(self, boundary: float) -> None:
        """The minute that ends at `boundary`: its datapoints, then the scaler."""
        for publisher in self.publishers():
            try:
                publisher.publish_metrics(boundary - self.minute / 2)
            except Exception:  # one endpoint's failure must not stop the others' metrics
                log.exception("metrics of %s", getattr(publisher, "name", publisher))
        try:
            self.scaler.tick(boundary)
        except Exception:  # a moto hiccup: this minute is lost, the next one runs
            log.exception("autoscaling at %.3f", boundary)

    def start(self, stop: threading.Event) -> threading.Thread:
        thread = threading.Thread(target=self.run, args=(stop,), name="minute-clock", daemon=True)
        thread.start()
        return thread
