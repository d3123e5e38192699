"""One emulated endpoint: its status, its job queue and its instances, as SageMaker runs them.

The parts each do one thing: the `Dispatcher` (the job queue, from invoke to result), the
`Fleet` of `Instance`s (a supervised container each, with MaxConcurrentInvocationsPerInstance
workers that take jobs from the one queue), the `ModelStore` (extracted models) and the
`AwsSink` (S3, SNS, CloudWatch). The host ties them together and owns the endpoint's status,
config and desired instance count, behind its own lock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .background import BackgroundWork, Departing
from .deployment import Deployment
from .dispatch import Dispatcher
from .fleet import Fleet
from .instance import Instance
from .jobqueue import Job
from .modelstore import ModelStore, ModelUnavailable
from .sink import AwsClients, AwsSink
from .supervisor import ContainerHandle
from .timescale import TimeScale

log = logging.getLogger("wasync.local")
MAX_FAILURE_REASON = 1024

# (deployment, model folder, log file, log line callback) -> a started container
Launcher = Callable[[Deployment, Path, Path, Callable[[str], None]], ContainerHandle]


@dataclass(frozen=True)
class HostingContext:
    """What every endpoint of one stack shares."""

    aws: AwsClients
    models: ModelStore
    launcher: Launcher
    logs_dir: Path
    time_scale: TimeScale = field(default_factory=TimeScale)
    # deleted endpoints still winding down, which the stack waits for before it exits
    departing: Departing = field(default_factory=Departing)

    @property
    def tick_period(self) -> float:
        """How often an endpoint expires jobs past their TTL and ships its logs: every 2 s,
        or every AWS minute if that is shorter."""
        return min(2.0, self.time_scale.minute)


@dataclass(frozen=True)
class HostState:
    status: str
    failure_reason: str | None
    config_name: str
    variant_name: str
    async_config: dict[str, Any]  # the served config's, though the config be deleted since
    created: float
    modified: float
    current_instances: int
    desired_instances: int


def container_launch(
    endpoint: str, deployment: Deployment, model_dir: Path, context: HostingContext, sink: AwsSink
) -> Callable[[str], ContainerHandle]:
    """How an instance starts its container: a log file of its own, its lines to CloudWatch."""

    def launch(instance_id: str) -> ContainerHandle:
        log_path = context.logs_dir / f"{instance_id}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("a") as header:  # names in file names could escape; not here
            header.write(f"wasync local: endpoint {endpoint!r}, {deployment.config_name!r}\n")
        return context.launcher(
            deployment, model_dir, log_path, lambda line: sink.record_log(instance_id, line)
        )

    return launch


class EndpointHost:
    def __init__(self, name: str, deployment: Deployment, context: HostingContext) -> None:
        self.name = name
        self.context = context
        self.sink = AwsSink(name, context.aws)
        self.dispatcher = Dispatcher(self.sink, context.time_scale)
        self.fleet = Fleet()
        self.closing = threading.Event()
        self.background = BackgroundWork(name)  # the stack waits for it before it exits
        self.created = time.time()
        self._lock = threading.Lock()  # guards everything below
        self._deployment = deployment
        self._desired = deployment.instance_count
        self._status, self._modified = "Creating", self.created
        self._reason: str | None = None
        self._model_dir: Path | None = None

    @property
    def deployment(self) -> Deployment:
        with self._lock:
            return self._deployment

    def start(self) -> None:
        self.background.run(self._create)
        self.background.run(self._tick)

    def update(self, deployment: Deployment) -> None:
        self._set_status("Updating", None)
        self.background.run(self._update, deployment)

    def resize(self, count: int) -> None:
        """UpdateEndpointWeightsAndCapacities: Updating until `count` instances serve."""
        with self._lock:
            self._desired = count
        self._set_status("Updating", None)
        self.background.run(self._resize, count)

    def accept(self, job: Job) -> bool:
        """Queue a job; False once the endpoint takes no more (it is going away)."""
        return self.dispatcher.accept(job)

    def delete(self) -> None:
        self._set_status("Deleting", None)
        self.background.run(self.close)
        self.context.departing.add(self.background)

    def drain(self, grace: float) -> list[str]:
        """Take no more jobs, give queued and running ones `grace` seconds, fail and name the
        rest."""
        return self.dispatcher.drain(grace)

    def close(self, grace: float = 5.0) -> None:
        """Fail what is left, stop every instance, remove the extracted model."""
        self.closing.set()
        self.dispatcher.abandon(
            "endpoint_deleted", f"endpoint {self.name} was deleted before this job finished"
        )
        self.fleet.close(grace)
        with self._lock:
            model_dir, self._model_dir = self._model_dir, None
        if model_dir is not None:
            self.context.models.remove(model_dir)
        self.sink.flush_logs()

    # ---- bringing instances up and down ---------------------------------------------------
    def _create(self) -> None:
        reason, _, _ = self._bring_up(self.deployment)
        if not self.closing.is_set():
            self._set_status("Failed" if reason else "InService", reason)

    def _update(self, deployment: Deployment) -> None:
        reason, replaced, old_model = self._bring_up(deployment)
        if reason:
            # As SageMaker does: keep serving the old config and report why the update failed.
            self._set_status("InService", f"Update to {deployment.config_name} failed: {reason}")
            return
        self._set_status("InService", None)
        self.fleet.retire(replaced)  # each finishes its running jobs, then stops
        if old_model is not None:
            self.context.models.remove(old_model)

    def _bring_up(self, deployment: Deployment) -> tuple[str | None, list[Instance], Path | None]:
        """Extract the model and start its instances; once all are healthy they replace the
        current ones. Returns (None, the replaced instances, their model folder), or (why
        they could not start, [], None), with nothing new left running."""
        try:
            model_dir = self.context.models.prepare(deployment.model_data)
        except ModelUnavailable as exc:
            return str(exc), [], None
        instances, reason = self.fleet.start(
            lambda: self._instance(deployment, model_dir), deployment.instance_count
        )
        with self._lock:
            old_model = self._model_dir
            replaced = None if reason else self.fleet.replace(instances)
            if replaced is not None:  # from the switch on, new jobs go to new instances
                self._deployment, self._model_dir = deployment, model_dir
                self._desired = deployment.instance_count
        if replaced is not None:
            return None, replaced, old_model
        self.context.models.remove(model_dir)
        return reason or "the endpoint was deleted", [], None

    def _resize(self, count: int) -> None:
        """Start the instances a larger count needs and serve them once healthy, or retire
        the surplus (each finishes its running jobs first)."""
        with self._lock:
            deployment, model_dir = self._deployment, self._model_dir
        serving, reason = self.fleet.size, None
        if count > serving:
            reason = self._grow(deployment, model_dir, count - serving)
        elif count < serving:
            self.fleet.shrink(count)
        if reason is not None:
            with self._lock:  # as a failed UpdateEndpoint: keep what serves, say why
                self._desired = self.fleet.size
            reason = f"Scaling to {count} instances failed: {reason}"
        if not self.closing.is_set():
            self._set_status("InService", reason)

    def _grow(self, deployment: Deployment, model_dir: Path | None, count: int) -> str | None:
        if model_dir is None:
            return "the endpoint has no model to run"
        instances, reason = self.fleet.start(lambda: self._instance(deployment, model_dir), count)
        if reason is None and not self.fleet.add(instances):
            reason = "the endpoint was deleted"
        return reason

    def _instance(self, deployment: Deployment, model_dir: Path) -> Instance:
        launch = container_launch(self.name, deployment, model_dir, self.context, self.sink)
        return Instance(
            self.dispatcher.queue,
            deployment.max_concurrency,
            launch,
            deployment.startup_timeout,
            self.dispatcher.run,
            self._instance_failed,
        )

    def _instance_failed(self, instance: Instance, reason: str) -> None:
        if self.fleet.serves(instance) and not self.closing.is_set():
            self._set_status("Failed", reason)

    def _tick(self) -> None:
        """Every tick period: expire queued jobs past their TTL, fail those of a failed
        endpoint and ship the container logs."""
        while not self.closing.wait(self.context.tick_period):
            try:
                self.dispatcher.expire_waiting()
                state = self.state()
                if state.status == "Failed":
                    message = f"endpoint {self.name} is Failed: {state.failure_reason}"
                    self.dispatcher.fail_waiting("endpoint_unavailable", message)
                self.sink.flush_logs()
            except Exception:  # moto hiccups must not end the endpoint's reporting
                log.exception("logs for %s", self.name)

    def publish_metrics(self, timestamp: float) -> None:
        """The metrics of the minute that just ended (the stack's minute clock calls this)."""
        if not self.closing.is_set():
            self.dispatcher.publish_metrics(self.fleet.healthy(), timestamp)

    # ---- status ----------------------------------------------------------------------------
    def _set_status(self, status: str, reason: str | None) -> None:
        if reason and len(reason) > MAX_FAILURE_REASON:  # AWS's own cap on FailureReason
            reason = reason[: MAX_FAILURE_REASON - 3] + "..."
        with self._lock:
            self._status, self._reason, self._modified = status, reason, time.time()
        log.info("endpoint %s: %s%s", self.name, status, f" ({reason})" if reason else "")

    def state(self) -> HostState:
        with self._lock:
            deployment, desired = self._deployment, self._desired
            status, reason, modified = self._status, self._reason, self._modified
        return HostState(
            status=status,
            failure_reason=reason,
            config_name=deployment.config_name,
            variant_name=deployment.variant_name,
            async_config=deployment.async_config,
            created=self.created,
            modified=modified,
            current_instances=self.fleet.healthy(),
            desired_instances=desired,
        )


def describe(host: EndpointHost) -> dict[str, Any]:
    """For `wasync local status`: the endpoint, its queue and its instances."""
    state = host.state()
    instances = host.fleet.describe()
    waiting, running = host.dispatcher.queue.counts()
    serving = next((i for i in instances if i["pid"]), instances[0] if instances else {})
    return {
        "name": host.name,
        "status": state.status,
        "failure_reason": state.failure_reason,
        "config": state.config_name,
        "pid": serving.get("pid"),
        "url": serving.get("url"),
        "queued": waiting,
        "running": running,
        "restarts": sum(i["restarts"] for i in instances),
        "current_instances": state.current_instances,
        "desired_instances": state.desired_instances,
        "instances": instances,
    }
