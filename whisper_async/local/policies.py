"""Application Auto Scaling's arithmetic, as its documentation states it: pure functions.

- Target tracking: the capacity that brings the metric back to its target,
  ceil(capacity x metric / target). Its high alarm only adds capacity, its low alarm only
  removes it (never with DisableScaleIn).
- Step scaling: the step whose interval (relative to the alarm's threshold) holds the breach,
  applied as ChangeInCapacity, PercentChangeInCapacity (rounded as AWS rounds, at least
  MinAdjustmentMagnitude) or ExactCapacity.
- Cooldowns: after a scale-out completes, the same policy scales out again during its
  cooldown only to more than that scale-out reached (a step is applied to the capacity
  before it); after a scale-in completes, the policy does not scale in during its cooldown,
  and any scale-out ends every scale-in cooldown of the target.
- Several policies at once: a scale-out wins, and the largest capacity proposed wins.
- The result stays within the scalable target's MinCapacity and MaxCapacity.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

TARGET_TRACKING, STEP_SCALING = "TargetTrackingScaling", "StepScaling"
DEFAULT_COOLDOWN = 300  # seconds: Application Auto Scaling's default for SageMaker variants


@dataclass(frozen=True)
class ScalableTarget:
    resource_id: str  # endpoint/{endpoint}/variant/{variant}
    min_capacity: int
    max_capacity: int
    scale_out_suspended: bool = False
    scale_in_suspended: bool = False

    @classmethod
    def from_api(cls, target: Mapping[str, Any]) -> ScalableTarget:
        suspended = target.get("SuspendedState") or {}
        return cls(
            target["ResourceId"],
            int(target["MinCapacity"]),
            int(target["MaxCapacity"]),
            bool(suspended.get("DynamicScalingOutSuspended")),
            bool(suspended.get("DynamicScalingInSuspended")),
        )

    @property
    def endpoint_and_variant(self) -> tuple[str, str] | None:
        parts = self.resource_id.split("/")
        if len(parts) == 4 and parts[0] == "endpoint" and parts[2] == "variant":
            return parts[1], parts[3]
        return None

    def clamp(self, capacity: int) -> int:
        return max(self.min_capacity, min(self.max_capacity, capacity))


@dataclass(frozen=True)
class Policy:
    name: str
    resource_id: str
    kind: str
    config: Mapping[str, Any]

    @classmethod
    def from_api(cls, policy: Mapping[str, Any]) -> Policy:
        kind = policy["PolicyType"]
        key = (
            "TargetTrackingScalingPolicyConfiguration"
            if kind == TARGET_TRACKING
            else "StepScalingPolicyConfiguration"
        )
        return cls(policy["PolicyName"], policy["ResourceId"], kind, policy.get(key) or {})

    def cooldown(self, scaling_out: bool) -> float:
        """AWS seconds."""
        if self.kind == TARGET_TRACKING:
            key = "ScaleOutCooldown" if scaling_out else "ScaleInCooldown"
            return float(self.config.get(key, DEFAULT_COOLDOWN))
        return float(self.config.get("Cooldown", DEFAULT_COOLDOWN))


def target_tracking(current: int, metric: float, target: float) -> int:
    """The capacity at which `metric` (measured at `current`) would sit at `target`."""
    return max(0, math.ceil(current * metric / target - 1e-9))


def step(config: Mapping[str, Any], current: int, value: float, threshold: float) -> int | None:
    """The capacity a step policy asks for when its alarm's metric is `value`; None when no
    step's interval holds the breach."""
    breach = value - threshold
    for adjustment in config.get("StepAdjustments", []):
        lower = adjustment.get("MetricIntervalLowerBound", -math.inf)
        upper = adjustment.get("MetricIntervalUpperBound", math.inf)
        # Above the threshold the lower bound is inclusive, below it the upper bound is.
        inside = lower <= breach < upper if breach >= 0 else lower < breach <= upper
        if inside:
            return adjusted(config, current, int(adjustment["ScalingAdjustment"]))
    return None


def adjusted(config: Mapping[str, Any], current: int, amount: int) -> int:
    kind = config.get("AdjustmentType", "ChangeInCapacity")
    if kind == "ExactCapacity":
        return max(0, amount)
    if kind == "PercentChangeInCapacity":
        change = current * amount / 100
        # AWS's rounding: above 1 down, (0, 1] to 1, [-1, 0) to -1, below -1 up.
        if change > 1:
            change = math.floor(change)
        elif change > 0:
            change = 1
        elif change < -1:
            change = math.ceil(change)
        elif change < 0:
            change = -1
        magnitude = int(config.get("MinAdjustmentMagnitude") or 0)
        if change and abs(change) < magnitude:
            change = math.copysign(magnitude, change)
        return max(0, current + int(change))
    return max(0, current + amount)


def aggregate(kind: str, values: Sequence[float]) -> float:
    """A step policy's MetricAggregationType over the alarm's datapoints."""
    if kind == "Minimum":
        return min(values)
    if kind == "Maximum":
        return max(values)
    return sum(values) / len(values)


@dataclass(frozen=True)
class Proposal:
    policy: Policy
    capacity: int
    scaling_out: bool
    cause: str


def decide(target: ScalableTarget, current: int, proposals: Sequence[Proposal]) -> Proposal | None:
    """The one change to make: any scale-out beats every scale-in, and the largest capacity
    wins; clamped to the target's range. None when nothing changes."""
    outs = [p for p in proposals if p.scaling_out and not target.scale_out_suspended]
    ins = [p for p in proposals if not p.scaling_out and not target.scale_in_suspended]
    chosen = max(outs or ins, key=lambda p: p.capacity, default=None)
    if chosen is None:
        return None
    capacity = target.clamp(chosen.capacity)
    if capacity == current:
        return None
    return Proposal(chosen.policy, capacity, capacity > current, chosen.cause)


@dataclass(frozen=True)
class Completed:
    """A scaling activity that completed: when, and from which capacity to which."""

    ended: float  # stack seconds
    before: int
    after: int

    @property
    def scaled_out(self) -> bool:
        return self.after > self.before


class Cooldowns:
    """The last completed scaling of each policy, and what its cooldown still blocks."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, str], Completed] = {}

    def completed(self, policy: Policy, done: Completed) -> None:
        if done.scaled_out:  # a scale-out ends every scale-in cooldown of the target
            for key, last in list(self._last.items()):
                if key[0] == policy.resource_id and not last.scaled_out:
                    del self._last[key]
        self._last[(policy.resource_id, policy.name)] = done

    def forget(self, resource_id: str) -> None:
        for key in [k for k in self._last if k[0] == resource_id]:
            del self._last[key]

    def in_scale_out_cooldown(
        self, policy: Policy, now: float, cooldown: float
    ) -> Completed | None:
        """The scale-out whose cooldown (stack seconds) still runs, if any."""
        last = self._last.get((policy.resource_id, policy.name))
        if last is not None and last.scaled_out and now - last.ended < cooldown:
            return last
        return None

    def blocks_scale_in(self, policy: Policy, now: float, cooldown: float) -> bool:
        last = self._last.get((policy.resource_id, policy.name))
        return last is not None and not last.scaled_out and now - last.ended < cooldown
