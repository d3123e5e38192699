"""One emulated endpoint: its container, its job queue and workers, its metrics and logs.

It behaves as SageMaker async inference does: jobs queue per endpoint, run up to
MaxConcurrentInvocationsPerInstance at once, and end as an output or a failure object, with
an SNS notification. No job is lost silently: a container that dies mid-job fails that job
with the reason, and is restarted.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import queue
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from .. import naming
from ..clients import Clients
from ..errors import WasyncError
from ..storage import S3Uri
from .runtime import Container, ExtractionError, safe_extract, start_container

log = logging.getLogger("wasync.local")


@dataclass
class Job:
    inference_id: str
    endpoint: str
    content_type: str | None
    accept: str | None
    custom_attributes: str | None
    input_location: str | None
    body_path: Path | None
    output_location: str
    failure_location: str
    ttl_seconds: int
    invocation_timeout: int
    received: float = field(default_factory=time.time)


@dataclass
class Deployment:
    """What a config says to run: the model's image, data, environment and async settings."""

    config_name: str
    model_name: str
    image: str
    model_data: str
    environment: dict[str, str]
    max_concurrency: int
    startup_timeout: int
    output_path: str
    failure_path: str
    success_topic: str | None
    error_topic: str | None


def iso_now() -> str:
    return (
        dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


class EndpointHost:
    def __init__(
        self, name: str, deployment: Deployment, aws: Clients, state_dir: Path, runtime: str
    ) -> None:
        self.name = name
        self.deployment = deployment
        self.aws = aws
        self.state_dir = state_dir
        self.runtime = runtime
        self.status = "Creating"
        self.failure_reason: str | None = None
        self.container: Container | None = None
        self.healthy = threading.Event()
        self.queue: queue.Queue[Job | None] = queue.Queue()
        self.in_flight: dict[str, Job] = {}
        self.accepting = True
        self.closing = threading.Event()
        self._lock = threading.Lock()
        self._workers: list[threading.Thread] = []
        self._log_buffer: list[dict[str, Any]] = []
        self._log_lock = threading.Lock()
        self.created = time.time()
        self.modified = time.time()
        self.restarts = 0

    # ---- provisioning -------------------------------------------------------------------
    def _prepare_model(self, deployment: Deployment) -> Path:
        target = self.state_dir / "endpoints" / self.name / deployment.config_name
        archive = target / "model.tar.gz"
        target.mkdir(parents=True, exist_ok=True)
        uri = S3Uri.parse(deployment.model_data)
        self.aws.client("s3").download_file(uri.bucket, uri.key, str(archive))
        model_dir = target / "model"
        safe_extract(archive, model_dir)
        archive.unlink()
        return model_dir

    def _launch(self, deployment: Deployment) -> tuple[Container | None, str | None]:
        """Start a container for a deployment and wait until healthy: (container, None) or
        (None, reason)."""
        try:
            model_dir = self._prepare_model(deployment)
        except ExtractionError as exc:
            return None, str(exc)
        except Exception as exc:
            return None, f"could not download the model data {deployment.model_data}: {exc}"
        log_path = self.state_dir / "logs" / f"{self.name}-{deployment.config_name}.log"
        try:
            container = start_container(
                self.runtime,
                deployment.image,
                model_dir,
                deployment.environment,
                log_path,
                self._collect_log,
            )
        except (OSError, RuntimeError, WasyncError) as exc:
            return None, f"could not start the container: {exc}"
        reason = container.wait_healthy(deployment.startup_timeout, self.closing.is_set)
        if reason:
            container.stop(grace=2)
            return None, reason
        return container, None

    def start(self) -> None:
        threading.Thread(target=self._create, name=f"create-{self.name}", daemon=True).start()
        threading.Thread(target=self._watch, name=f"watch-{self.name}", daemon=True).start()
        threading.Thread(target=self._report, name=f"metrics-{self.name}", daemon=True).start()

    def _create(self) -> None:
        container, reason = self._launch(self.deployment)
        if container is None:
            self._set_status("Failed", reason)
            return
        self.container = container
        self._start_workers(self.deployment.max_concurrency)
        self.healthy.set()
        self._set_status("InService", None)

    def update(self, deployment: Deployment) -> None:
        self._set_status("Updating", None)
        threading.Thread(
            target=self._update, args=(deployment,), name=f"update-{self.name}", daemon=True
        ).start()

    def _update(self, deployment: Deployment) -> None:
        container, reason = self._launch(deployment)
        if container is None:
            # As SageMaker does: keep serving the old config and report why the update failed.
            self._set_status("InService", f"Update to {deployment.config_name} failed: {reason}")
            return
        old, self.container = self.container, container
        previous_concurrency = self.deployment.max_concurrency
        self.deployment = deployment
        if deployment.max_concurrency > previous_concurrency:
            self._start_workers(deployment.max_concurrency - previous_concurrency)
        self.healthy.set()
        self._set_status("InService", None)
        if old is not None:
            old.stop()  # SIGTERM: the old server finishes in-flight work, then exits

    def _set_status(self, status: str, reason: str | None) -> None:
        self.status, self.failure_reason, self.modified = status, reason, time.time()
        log.info("endpoint %s: %s%s", self.name, status, f" ({reason})" if reason else "")

    def _watch(self) -> None:
        """Restart a container that died while the endpoint is in service."""
        while not self.closing.wait(0.3):
            container = self.container
            if (
                container is None
                or container.alive()
                or self.status not in {"InService", "Updating"}
            ):
                continue
            self.healthy.clear()
            self.restarts += 1
            log.warning(
                "endpoint %s: container exited (%s); restarting",
                self.name,
                container.process.returncode,
            )
            replacement, reason = self._launch(self.deployment)
            if replacement is None:
                self._set_status("Failed", f"the container died and could not restart: {reason}")
                continue
            self.container = replacement
            self.healthy.set()

    # ---- jobs ----------------------------------------------------------------------------
    def _start_workers(self, count: int) -> None:
        for index in range(count):
            worker = threading.Thread(
                target=self._work, name=f"job-{self.name}-{len(self._workers) + index}", daemon=True
            )
            worker.start()
            self._workers.append(worker)

    def enqueue(self, job: Job) -> None:
        self.queue.put(job)

    def backlog(self) -> int:
        return self.queue.qsize() + len(self.in_flight)

    def _work(self) -> None:
        while True:
            job = self.queue.get()
            if job is None:
                return
            with self._lock:
                self.in_flight[job.inference_id] = job
            try:
                self._run(job)
            except Exception as exc:
                log.exception("job %s", job.inference_id)
                self._fail(job, "internal_error", f"the local stack failed to run the job: {exc}")
            finally:
                with self._lock:
                    self.in_flight.pop(job.inference_id, None)
                if job.body_path:
                    job.body_path.unlink(missing_ok=True)

    def _run(self, job: Job) -> None:
        waited = time.time() - job.received
        if waited > job.ttl_seconds:
            self._fail(
                job,
                "request_expired",
                f"the request waited {int(waited)}s, over its RequestTTLSeconds of {job.ttl_seconds}",
            )
            return
        while not self.healthy.wait(1.0):
            if self.closing.is_set() or self.status == "Failed":
                self._fail(
                    job,
                    "endpoint_unavailable",
                    f"endpoint {self.name} is {self.status}: {self.failure_reason}",
                )
                return
        container = self.container
        assert container is not None
        with tempfile.TemporaryDirectory(prefix="wasync-job-") as scratch:
            payload = job.body_path
            if payload is None:
                assert job.input_location is not None
                source = S3Uri.parse(job.input_location)
                payload = Path(scratch) / "input"
                try:
                    self.aws.client("s3").download_file(source.bucket, source.key, str(payload))
                except Exception as exc:
                    self._fail(job, "input_unreadable", f"cannot read {job.input_location}: {exc}")
                    return
            headers = {"Content-Type": job.content_type or "application/octet-stream"}
            if job.accept:
                headers["Accept"] = job.accept
            if job.custom_attributes:
                headers["X-Amzn-SageMaker-Custom-Attributes"] = job.custom_attributes
            try:
                with payload.open("rb") as body:
                    response = httpx.post(
                        f"{container.url}/invocations",
                        content=body,
                        headers=headers,
                        timeout=httpx.Timeout(job.invocation_timeout, connect=10),
                    )
            except httpx.TimeoutException:
                self._fail(
                    job,
                    "invocation_timeout",
                    f"the model did not answer within InvocationTimeoutSeconds ({job.invocation_timeout}s)",
                )
                return
            except httpx.TransportError as exc:
                time.sleep(0.3)
                code = container.process.poll()
                detail = (
                    f"the container exited with code {code}"
                    if code is not None
                    else f"the connection to the container failed ({exc})"
                )
                self._fail(
                    job,
                    "container_failed",
                    f"{detail} while processing this request: {container.last_lines(3)}",
                )
                return
        if response.status_code == 200:
            self._put(job.output_location, response.content, response.headers.get("content-type"))
            self._notify(job, success=True)
        else:
            self._put(job.failure_location, response.content, response.headers.get("content-type"))
            reason = f'Received client error ({response.status_code}) from primary with message "{response.text[:500]}"'
            if response.status_code >= 500:
                reason = reason.replace("client error", "server error")
            self._notify(job, success=False, reason=reason)

    def _put(self, location: str, body: bytes, content_type: str | None) -> None:
        uri = S3Uri.parse(location)
        self.aws.client("s3").put_object(
            Bucket=uri.bucket,
            Key=uri.key,
            Body=body,
            ContentType=content_type or "application/octet-stream",
        )

    def _fail(self, job: Job, code: str, message: str) -> None:
        self._put(
            job.failure_location,
            json.dumps({"error": code, "message": message}).encode(),
            "application/json",
        )
        self._notify(job, success=False, reason=message)

    def _notify(self, job: Job, success: bool, reason: str | None = None) -> None:
        topic = self.deployment.success_topic if success else self.deployment.error_topic
        if not topic:
            return
        message: dict[str, Any] = {
            "awsRegion": self.aws.region,
            "eventTime": iso_now(),
            "receivedTime": dt.datetime.fromtimestamp(job.received, dt.timezone.utc)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "invocationStatus": "Completed" if success else "Failed",
            "requestParameters": {
                "accept": job.accept,
                "contentType": job.content_type,
                "customAttributes": job.custom_attributes,
                "endpointName": self.name,
                "inputLocation": job.input_location,
            },
            "responseParameters": (
                {"contentType": job.accept, "outputLocation": job.output_location}
                if success
                else {"failureLocation": job.failure_location}
            ),
            "inferenceId": job.inference_id,
            "eventVersion": "1.0",
            "eventSource": "aws:sagemaker",
            "eventName": "InferenceResult",
        }
        if not success:
            message["failureReason"] = reason
        try:
            self.aws.client("sns").publish(TopicArn=topic, Message=json.dumps(message))
        except Exception:
            log.exception("SNS publish to %s failed", topic)

    # ---- logs and metrics --------------------------------------------------------------
    def _collect_log(self, line: str) -> None:
        with self._log_lock:
            self._log_buffer.append({"timestamp": int(time.time() * 1000), "message": line})

    def _flush_logs(self) -> None:
        with self._log_lock:
            events, self._log_buffer = self._log_buffer, []
        if not events:
            return
        logs = self.aws.client("logs")
        group, stream = naming.log_group(self.name), f"{naming.VARIANT}/local-{self.name}"
        for create in (
            lambda: logs.create_log_group(logGroupName=group),
            lambda: logs.create_log_stream(logGroupName=group, logStreamName=stream),
        ):
            with contextlib.suppress(Exception):  # it exists already
                create()
        logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)

    def _report(self) -> None:
        while not self.closing.wait(2.0):
            try:
                self.publish_metrics()
                self._flush_logs()
            except Exception:
                log.exception("metrics for %s", self.name)
        self._flush_logs()

    def publish_metrics(self) -> None:
        backlog = self.backlog()
        oldest = min((j.received for j in list(self.in_flight.values())), default=None)
        instances = 1 if self.healthy.is_set() else 0
        dimensions = [{"Name": "EndpointName", "Value": self.name}]
        data = [
            {"MetricName": "ApproximateBacklogSize", "Value": float(backlog)},
            {
                "MetricName": "ApproximateBacklogSizePerInstance",
                "Value": float(backlog) / max(instances, 1),
            },
            {
                "MetricName": "HasBacklogWithoutCapacity",
                "Value": 1.0 if backlog and not instances else 0.0,
            },
            {
                "MetricName": "ApproximateAgeOfOldestRequest",
                "Value": time.time() - oldest if oldest else 0.0,
            },
        ]
        self.aws.client("cloudwatch").put_metric_data(
            Namespace="AWS/SageMaker",
            MetricData=[{**d, "Dimensions": dimensions, "Unit": "None"} for d in data],
        )

    # ---- shutdown ------------------------------------------------------------------------
    def drain(self, grace: float) -> list[str]:
        """Stop taking jobs, give running ones `grace` seconds, fail and name the rest."""
        self.accepting = False
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and self.backlog():
            time.sleep(0.2)
        unfinished: list[Job] = []
        while True:
            try:
                job = self.queue.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                unfinished.append(job)
        unfinished += list(self.in_flight.values())
        for job in unfinished:
            self._fail(
                job,
                "stack_stopped",
                "the local stack stopped before this job finished; submit it again",
            )
        return [job.inference_id for job in unfinished]

    def close(self, grace: float = 5.0) -> None:
        self.closing.set()
        self.healthy.clear()
        for _ in self._workers:
            self.queue.put(None)
        if self.container is not None:
            self.container.stop(grace)
        self._flush_logs()

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "failure_reason": self.failure_reason,
            "config": self.deployment.config_name,
            "pid": self.container.pid if self.container and self.container.alive() else None,
            "url": self.container.url if self.container else None,
            "queued": self.queue.qsize(),
            "running": len(self.in_flight),
            "restarts": self.restarts,
        }


def deployment_from(config: dict[str, Any], model: dict[str, Any]) -> Deployment:
    variant = config["ProductionVariants"][0]
    async_config = config.get("AsyncInferenceConfig") or {}
    output = async_config.get("OutputConfig", {})
    notify = output.get("NotificationConfig", {})
    container = model.get("PrimaryContainer") or (model.get("Containers") or [{}])[0]
    return Deployment(
        config_name=config["EndpointConfigName"],
        model_name=variant["ModelName"],
        image=container.get("Image", ""),
        model_data=container.get("ModelDataUrl", ""),
        environment=dict(container.get("Environment", {})),
        max_concurrency=int(
            async_config.get("ClientConfig", {}).get("MaxConcurrentInvocationsPerInstance", 1)
        ),
        startup_timeout=int(variant.get("ContainerStartupHealthCheckTimeoutInSeconds", 600)),
        output_path=output.get("S3OutputPath", ""),
        failure_path=output.get("S3FailurePath", output.get("S3OutputPath", "")),
        success_topic=notify.get("SuccessTopic"),
        error_topic=notify.get("ErrorTopic"),
    )


Factory = Callable[[str, Deployment], EndpointHost]
