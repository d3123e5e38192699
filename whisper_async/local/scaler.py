"""The local stack's Application Auto Scaling: alarms evaluated, policies invoked, endpoints
resized, every change recorded as a scaling activity.

Once per AWS minute, after every endpoint has published its metrics for the minute that
ended, `Scaler.tick`:
1. settles the activity in progress on each scalable target: the endpoint is InService at
   the new count (Successful; the policy's cooldown starts now), or it is not (Failed);
2. brings a target whose MinCapacity/MaxCapacity changed back into its range;
3. evaluates every metric alarm (`alarms.py`) and stores a new state in CloudWatch;
4. invokes the Application Auto Scaling policies named in the actions of each alarm's
   current state, every minute the alarm stays in it (as AWS does for Auto Scaling actions),
   and makes the one change they decide (`policies.py`) through SageMaker's
   UpdateEndpointWeightsAndCapacities, recorded as an InProgress activity.

A target with an activity in progress, or whose endpoint is not InService, is not scaled
again until that settles. Time is the stack's (`timescale.py`): periods and cooldowns are
AWS seconds divided by the time scale.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .alarms import AlarmSpec, Evaluation, MetricId, evaluate
from .policies import (
    STEP_SCALING,
    Completed,
    Cooldowns,
    Policy,
    Proposal,
    ScalableTarget,
    aggregate,
    decide,
    step,
    target_tracking,
)
from .timescale import TimeScale

log = logging.getLogger("wasync.local")

NAMESPACE, DIMENSION = "sagemaker", "sagemaker:variant:DesiredInstanceCount"
IN_PROGRESS, SUCCESSFUL, FAILED = "InProgress", "Successful", "Failed"


@dataclass(frozen=True)
class VariantCapacity:
    status: str  # the endpoint's
    desired: int
    current: int
    failure_reason: str | None = None
    created: float = 0.0  # the endpoint's CreationTime: a new one may reuse a deleted one's name


class CapacityRefused(Exception):
    """SageMaker refused the new instance count; the message says why."""


class Capacity(Protocol):
    """SageMaker's side: an endpoint variant's instance counts, and changing them."""

    def variant(self, endpoint: str, variant: str) -> VariantCapacity | None: ...

    def set_desired(self, endpoint: str, variant: str, count: int) -> None: ...


@dataclass
class Activity:
    """One scaling activity, as DescribeScalingActivities shows it."""

    resource_id: str
    before: int
    after: int
    cause: str
    start: float
    policy: Policy | None = None
    endpoint_created: float = 0.0  # which endpoint of that name it resizes
    status: str = IN_PROGRESS
    message: str = ""
    end: float | None = None
    activity_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def to_api(self) -> dict[str, Any]:
        shown: dict[str, Any] = {
            "ActivityId": self.activity_id,
            "ServiceNamespace": NAMESPACE,
            "ResourceId": self.resource_id,
            "ScalableDimension": DIMENSION,
            "Description": f"Setting desired instance count to {self.after}.",
            "Cause": self.cause,
            "StartTime": self.start,
            "StatusCode": self.status,
            "StatusMessage": self.message,
        }
        if self.end is not None:
            shown["EndTime"] = self.end
        return shown


class ScalingView(Protocol):
    """The AWS side the scaler reads and writes: Application Auto Scaling and CloudWatch."""

    def targets(self) -> list[ScalableTarget]: ...

    def policies(self) -> list[Policy]: ...

    def alarms(self) -> list[AlarmSpec]: ...

    def datapoints(self, metric: MetricId, start: float, end: float) -> list[tuple[float, float]]:
        """(stack time, value) of every datapoint of `metric` from `start` to before `end`."""
        ...

    def set_alarm_state(self, name: str, evaluation: Evaluation) -> None: ...

    def save_activity(self, activity: Activity) -> None: ...


def policy_key(action_arn: str) -> tuple[str, str] | None:
    """(resource id, policy name) of a scaling policy ARN (target tracking alarms add
    `:createdBy/...`); None for any other action."""
    if ":scalingPolicy:" not in action_arn or ":policyName/" not in action_arn:
        return None
    head, name = action_arn.split(":policyName/", 1)
    resource = head.split(":resource/", 1)[-1]
    if not resource.startswith(f"{NAMESPACE}/"):
        return None
    return resource.removeprefix(f"{NAMESPACE}/"), name.split(":createdBy/", 1)[0]


class Scaler:
    def __init__(self, view: ScalingView, capacity: Capacity, scale: TimeScale) -> None:
        self.view = view
        self.capacity = capacity
        self.scale = scale
        self.cooldowns = Cooldowns()
        self._in_progress: dict[str, Activity] = {}
        self._limits: dict[str, tuple[int, int]] = {}

    def tick(self, now: float) -> None:
        targets = {t.resource_id: t for t in self.view.targets() if t.endpoint_and_variant}
        for resource_id in list(self._in_progress):
            self._settle(resource_id, now)
        for resource_id in [r for r in self._limits if r not in targets]:
            del self._limits[resource_id]
            self.cooldowns.forget(resource_id)
        for target in targets.values():
            self._keep_in_range(target, now)
        policies = {(p.resource_id, p.name): p for p in self.view.policies()}
        invoked: dict[str, list[Proposal]] = {}
        for alarm in self.view.alarms():
            evaluation = self._evaluate(alarm, now)
            if not alarm.actions_enabled:
                continue
            for arn in alarm.actions[evaluation.state]:
                policy = policies.get(policy_key(arn) or ("", ""))
                scaled = targets.get(policy.resource_id) if policy else None
                if policy is None or scaled is None:
                    continue
                proposals = invoked.setdefault(scaled.resource_id, [])
                proposal = self._invoke(policy, alarm, evaluation, scaled, now)
                if proposal is not None:
                    proposals.append(proposal)
        for resource_id, proposals in invoked.items():
            self._scale(targets[resource_id], proposals, now)

    # ---- alarms and policies -----------------------------------------------------------------
    def _evaluate(self, alarm: AlarmSpec, now: float) -> Evaluation:
        period = self.scale.stack_seconds(alarm.period)
        points: list[tuple[float, float]] = []
        if alarm.metric is not None and not alarm.unsupported():
            start = now - alarm.evaluation_periods * period
            points = self.view.datapoints(alarm.metric, start, now)
        evaluation = evaluate(alarm, points, now, period)
        if evaluation.state != alarm.state:
            self.view.set_alarm_state(alarm.name, evaluation)
            log.info("alarm %s: %s -> %s", alarm.name, alarm.state, evaluation.state)
        return evaluation

    def _invoke(
        self,
        policy: Policy,
        alarm: AlarmSpec,
        evaluation: Evaluation,
        target: ScalableTarget,
        now: float,
    ) -> Proposal | None:
        """What one policy asks for when `alarm` invokes it; None for no change."""
        values = evaluation.values
        variant = self._variant(target)
        if not values or variant is None:
            return None
        current = variant.desired
        if policy.kind == STEP_SCALING:
            kind = str(policy.config.get("MetricAggregationType", "Average"))
            capacity = step(policy.config, current, aggregate(kind, values), alarm.threshold)
            if capacity is None:
                return None
        else:
            capacity = target_tracking(current, values[-1], float(policy.config["TargetValue"]))
            adds = alarm.comparison.startswith("Greater")  # the high alarm; else the low one
            if adds != (capacity > current) or (not adds and policy.config.get("DisableScaleIn")):
                return None
        scaling_out = capacity > current
        cooldown = self.scale.stack_seconds(policy.cooldown(scaling_out))
        if scaling_out:
            last = self.cooldowns.in_scale_out_cooldown(policy, now, cooldown)
            # During the cooldown only a larger scale-out than the last one goes ahead.
            if last is not None and not self._larger(policy, capacity, current, last):
                return None
        elif capacity < current and self.cooldowns.blocks_scale_in(policy, now, cooldown):
            return None
        cause = (
            f"monitor alarm {alarm.name} in state {evaluation.state} triggered policy {policy.name}"
        )
        return Proposal(policy, capacity, scaling_out, cause)

    @staticmethod
    def _larger(policy: Policy, capacity: int, current: int, last: Completed) -> bool:
        if policy.kind == STEP_SCALING:  # a bigger step than the one in cooldown
            return capacity - current > last.after - last.before
        return capacity > last.after

    # ---- activities --------------------------------------------------------------------------
    def _variant(self, target: ScalableTarget) -> VariantCapacity | None:
        endpoint, variant = target.endpoint_and_variant or ("", "")
        return self.capacity.variant(endpoint, variant)

    def _scale(self, target: ScalableTarget, proposals: Sequence[Proposal], now: float) -> None:
        variant = self._variant(target)
        if target.resource_id in self._in_progress or variant is None:
            return
        if variant.status != "InService":
            return  # Creating, Updating or Failed: Application Auto Scaling waits
        chosen = decide(target, variant.desired, proposals)
        if chosen is not None:
            self._start(target, variant, chosen.capacity, chosen.cause, chosen.policy, now)
        elif (
            target.clamp(variant.desired) != variant.desired
        ):  # an invoked policy enforces the range
            self._keep_in_range(target, now, force=True)

    def _keep_in_range(self, target: ScalableTarget, now: float, force: bool = False) -> None:
        """After RegisterScalableTarget (and when a policy runs), a capacity outside the new
        range is brought into it, as Application Auto Scaling does."""
        limits = (target.min_capacity, target.max_capacity)
        if (self._limits.get(target.resource_id) == limits and not force) or (
            target.resource_id in self._in_progress
        ):
            return
        variant = self._variant(target)
        if variant is None or variant.status != "InService":
            return  # checked again next minute
        self._limits[target.resource_id] = limits
        wanted = target.clamp(variant.desired)
        if wanted != variant.desired:
            bound = "minimum" if wanted > variant.desired else "maximum"
            self._start(target, variant, wanted, f"{bound} capacity was set to {wanted}", None, now)

    def _start(
        self,
        target: ScalableTarget,
        variant: VariantCapacity,
        after: int,
        cause: str,
        policy: Policy | None,
        now: float,
    ) -> None:
        before = variant.desired
        activity = Activity(target.resource_id, before, after, cause, now, policy, variant.created)
        log.info("scaling %s: %s (%s)", target.resource_id, activity.to_api()["Description"], cause)
        self.view.save_activity(activity)  # recorded before the endpoint starts to change
        endpoint, variant_name = target.endpoint_and_variant or ("", "")
        try:
            self.capacity.set_desired(endpoint, variant_name, after)
            self._in_progress[target.resource_id] = activity
        except CapacityRefused as refused:
            activity.status, activity.end = FAILED, now
            activity.message = f"Failed to set desired instance count to {after}. Reason: {refused}"
            self.view.save_activity(activity)

    def _settle(self, resource_id: str, now: float) -> None:
        activity = self._in_progress[resource_id]
        endpoint, _, variant_name = resource_id.removeprefix("endpoint/").partition("/variant/")
        variant = self.capacity.variant(endpoint, variant_name)
        if variant is not None and variant.status in {"Creating", "Updating"}:
            return  # still resizing
        if variant is None or variant.created != activity.endpoint_created:
            # Deleted; a new endpoint of the same name is not the one this activity resized.
            activity.status, activity.message = FAILED, f"Endpoint {endpoint} no longer exists."
        elif variant.desired == activity.after == variant.current and variant.status == "InService":
            activity.status = SUCCESSFUL
            activity.message = (
                f"Successfully set desired instance count to {activity.after}. "
                "Change successfully fulfilled by sagemaker."
            )
        else:
            reason = variant.failure_reason or (
                f"the endpoint is {variant.status} with {variant.current} of "
                f"{variant.desired} instances in service"
            )
            activity.status = FAILED
            activity.message = (
                f"Failed to set desired instance count to {activity.after}. Reason: {reason}"
            )
        activity.end = now
        del self._in_progress[resource_id]
        if activity.status == SUCCESSFUL and activity.policy is not None:
            done = Completed(now, activity.before, activity.after)
            self.cooldowns.completed(activity.policy, done)
        self.view.save_activity(activity)
