"""Plans: every change wasync makes to AWS is first a list of API calls, then an execution.

A plan is built by reading only, so `--dry-run` prints exactly what would run and changes
nothing. A step may take a value from an earlier step's response (`Output`), e.g. the alarm
that triggers a scaling policy needs the ARN that PutScalingPolicy returns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .clients import Clients
from .errors import NotFoundError


@dataclass(frozen=True)
class Output:
    """A value an earlier step returns: `key` of step `step`'s response (0-based)."""

    step: int
    key: str


@dataclass(frozen=True)
class Step:
    service: str
    operation: str
    params: Mapping[str, Any]
    summary: str
    # A delete whose target vanished between planning and running has done its job.
    missing_ok: bool = False


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...] = ()

    def __add__(self, other: Plan) -> Plan:
        return Plan(self.steps + other.steps)

    def __bool__(self) -> bool:
        return bool(self.steps)

    @property
    def summaries(self) -> tuple[str, ...]:
        return tuple(step.summary for step in self.steps)


def deleted_names(steps: Iterable[Step]) -> tuple[str, ...]:
    """`kind/name` of what delete steps remove (their summaries read `delete kind/name`)."""
    return tuple(
        step.summary.removeprefix("delete ") for step in steps if step.summary.startswith("delete ")
    )


def _resolve(value: Any, responses: Sequence[Mapping[str, Any]]) -> Any:
    if isinstance(value, Output):
        return responses[value.step][value.key]
    if isinstance(value, Mapping):
        return {k: _resolve(v, responses) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_resolve(v, responses) for v in value]
    return value


def execute(
    clients: Clients, plan: Plan, on_step: Callable[[Step], None] | None = None
) -> list[Mapping[str, Any]]:
    """Run every step in order; returns each step's response."""
    responses: list[Mapping[str, Any]] = []
    for step in plan.steps:
        if on_step is not None:
            on_step(step)
        method = getattr(clients.client(step.service), step.operation)
        try:
            response = method(**_resolve(step.params, responses))
        except NotFoundError:
            if not step.missing_ok:
                raise
            response = {}
        responses.append(response or {})
    return responses
