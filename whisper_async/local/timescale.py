"""The stack's clock: how much AWS time passes in one second of the stack's time.

`wasync local up --time-scale 60` makes one AWS minute pass in one second, so a test or the
demo sees an idle night and a morning burst in under a minute. The scale applies to what AWS
itself times (CloudWatch periods and alarm evaluation, Application Auto Scaling cooldowns, a
request's RequestTTLSeconds, the age of the oldest request) and never to real work: starting
a container, loading a model and transcribing take the time they take, and so do
InvocationTimeoutSeconds and the container's start-up health check timeout.
"""

from __future__ import annotations

from dataclasses import dataclass

AWS_MINUTE = 60.0  # SageMaker publishes its metrics, and CloudWatch evaluates alarms, per minute
MAX_TIME_SCALE = 600.0  # ten AWS minutes per second: a minute is still 100 ms of stack time


@dataclass(frozen=True)
class TimeScale:
    factor: float = 1.0  # AWS seconds per stack second

    def __post_init__(self) -> None:
        if not 1.0 <= self.factor <= MAX_TIME_SCALE:
            raise ValueError(
                f"a time scale of {self.factor:g} is out of range: use 1 (real time) to "
                f"{MAX_TIME_SCALE:g} (ten AWS minutes per second)"
            )

    def stack_seconds(self, aws_seconds: float) -> float:
        return aws_seconds / self.factor

    def aws_seconds(self, stack_seconds: float) -> float:
        return stack_seconds * self.factor

    @property
    def minute(self) -> float:
        """One AWS minute in stack seconds."""
        return self.stack_seconds(AWS_MINUTE)
