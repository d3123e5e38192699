"""One emulated endpoint: its status, its job queue and its instances, as SageMaker runs them.

The parts each do one thing: the `Dispatcher` (the job queue, from invoke to result), the
`Instance`s (a supervised container each, with MaxConcurrentInvocationsPerInstance workers that
take jobs from the one queue), the `ModelStore` (extracted models) and the `AwsSink` (S3, SNS,
CloudWatch). The host ties them together and owns the endpoint's status, config and instance
list, behind its own lock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .deployment import Deployment
from .dispatch import Dispatcher
from .instance import Instance
from .jobqueue import Job
from .modelstore import ModelStore, ModelUnavailable
from .sink import AwsClients, AwsSink
from .supervisor import ContainerHandle

log = logging.getLogger("wasync.local")

# (deployment, model folder, log file, log line callback) -> a started container
Launcher = Callable[[Deployment, Path, Path, Callable[[str], None]], ContainerHandle]


@dataclass(frozen=True)
class HostingContext:
    """What every endpoint of one stack shares."""

    aws: AwsClients
    models: ModelStore
    launcher: Launcher
    logs_dir: Path
    metrics_period: float = 2.0


@dataclass(frozen=True)
class HostState:
    status: str
    failure_reason: str | None
    config_name: str
    created: float
    modified: float
    current_instances: int
    desired_instances: int


class EndpointHost:
    def __init__(self, name: str, deployment: Deployment, context: HostingContext) -> None:
        self.name = name
        self.context = context
        self.sink = AwsSink(name, context.aws)
        self.dispatcher = Dispatcher(self.sink)
        self.closing = threading.Event()
        self.created = time.time()
        self._lock = threading.Lock()  # guards everything below
        self._deployment = deployment
        self._status, self._modified = "Creating", self.created
        self._reason: str | None = None
        self._instances: list[Instance] = []
        self._starting: list[Instance] = []
        self._model_dir: Path | None = None

    @property
    def deployment(self) -> Deployment:
        with self._lock:
            return self._deployment

    def start(self) -> None:
        threading.Thread(target=self._create, name=f"create-{self.name}", daemon=True).start()
        threading.Thread(target=self._tick, name=f"tick-{self.name}", daemon=True).start()

    def update(self, deployment: Deployment) -> None:
        self._set_status("Updating", None)
        threading.Thread(
            target=self._update, args=(deployment,), name=f"update-{self.name}", daemon=True
        ).start()

    def accept(self, job: Job) -> bool:
        """Queue a job; False once the endpoint takes no more (it is going away)."""
        return self.dispatcher.accept(job)

    def delete(self) -> None:
        self._set_status("Deleting", None)
        threading.Thread(target=self.close, name=f"delete-{self.name}", daemon=True).start()

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
        with self._lock:
            instances, model_dir = [*self._instances, *self._starting], self._model_dir
            self._instances, self._model_dir = [], None
        for instance in instances:
            instance.stop(grace)
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
        for instance in replaced:  # each finishes its running jobs, then stops
            instance.retire()
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
        instances = [
            self._instance(deployment, model_dir) for _ in range(deployment.instance_count)
        ]
        with self._lock:
            self._starting += instances
        with ThreadPoolExecutor(max(1, len(instances))) as pool:
            reasons = list(pool.map(Instance.start, instances))
        reason = next((r for r in reasons if r), None)
        with self._lock:
            self._starting = [i for i in self._starting if i not in instances]
            if reason is None and self.closing.is_set():
                reason = "the endpoint was deleted"
            replaced, old_model = self._instances, self._model_dir
            if reason is None:
                self._deployment, self._instances = deployment, instances
                self._model_dir = model_dir
                for instance in replaced:  # from the switch on, new jobs go to new instances
                    instance.stop_taking()
        if reason is None:
            return None, replaced, old_model
        for instance in instances:
            instance.stop(grace=2)
        self.context.models.remove(model_dir)
        return reason, [], None

    def _instance(self, deployment: Deployment, model_dir: Path) -> Instance:
        def launch(instance_id: str) -> ContainerHandle:
            log_path = self.context.logs_dir / f"{instance_id}.log"
            log_path.parent.mkdir(parents=True, exist_ok=True)
            with log_path.open("a") as header:  # names in file names could escape; not here
                header.write(f"wasync local: endpoint {self.name!r}, {deployment.config_name!r}\n")
            return self.context.launcher(
                deployment,
                model_dir,
                log_path,
                lambda line: self.sink.record_log(instance_id, line),
            )

        return Instance(
            self.dispatcher.queue,
            deployment.max_concurrency,
            launch,
            deployment.startup_timeout,
            self.dispatcher.run,
            self._instance_failed,
        )

    def _instance_failed(self, instance: Instance, reason: str) -> None:
        with self._lock:
            serving = instance in self._instances
        if serving and not self.closing.is_set():
            self._set_status("Failed", reason)

    def _tick(self) -> None:
        """Every metrics period: expire queued jobs past their TTL, fail those of a failed
        endpoint, publish the metrics and ship the container logs."""
        while not self.closing.wait(self.context.metrics_period):
            try:
                self.dispatcher.expire_waiting()
                state = self.state()
                if state.status == "Failed":
                    message = f"endpoint {self.name} is Failed: {state.failure_reason}"
                    self.dispatcher.fail_waiting("endpoint_unavailable", message)
                self.dispatcher.publish_metrics(state.current_instances)
                self.sink.flush_logs()
            except Exception:  # moto hiccups must not end the endpoint's reporting
                log.exception("metrics and logs for %s", self.name)

    # ---- status ----------------------------------------------------------------------------
    def _set_status(self, status: str, reason: str | None) -> None:
        with self._lock:
            self._status, self._reason, self._modified = status, reason, time.time()
        log.info("endpoint %s: %s%s", self.name, status, f" ({reason})" if reason else "")

    def state(self) -> HostState:
        with self._lock:
            instances, deployment = list(self._instances), self._deployment
            status, reason, modified = self._status, self._reason, self._modified
        return HostState(
            status=status,
            failure_reason=reason,
            config_name=deployment.config_name,
            created=self.created,
            modified=modified,
            current_instances=sum(instance.healthy for instance in instances),
            desired_instances=deployment.instance_count,
        )

    def describe(self) -> dict[str, Any]:
        """For `wasync local status`: the endpoint, its queue and its instances."""
        state = self.state()
        with self._lock:
            instances = [instance.describe() for instance in self._instances]
        waiting, running = self.dispatcher.queue.counts()
        serving = next((i for i in instances if i["pid"]), instances[0] if instances else {})
        return {
            "name": self.name,
            "status": state.status,
            "failure_reason": state.failure_reason,
            "config": state.config_name,
            "pid": serving.get("pid"),
            "url": serving.get("url"),
            "queued": waiting,
            "running": running,
            "restarts": sum(i["restarts"] for i in instances),
            "instances": instances,
        }
