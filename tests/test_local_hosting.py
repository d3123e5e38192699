"""An emulated endpoint's hosting: instances, workers, the job queue, model folders.

Real EndpointHosts, real container processes (tests/helpers/fake_container.py: the container
contract without a model, so each test takes seconds) and moto in-process for S3.
"""

from __future__ import annotations

import io
import json
import os
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import fake_container
from tests.helpers.waiting import wait_until
from whisper_async.errors import NotFoundError
from whisper_async.local.deployment import Deployment
from whisper_async.local.hosting import EndpointHost, HostingContext
from whisper_async.local.jobqueue import Job, job_for
from whisper_async.local.modelstore import ModelStore
from whisper_async.local.runtime import Container, free_port
from whisper_async.local.sink import AwsClients

BUCKET = "hosting-tests"


def fake_launcher(
    deployment: Deployment, model_dir: Path, log_path: Path, on_log: Any
) -> Container:
    port = free_port()
    argv = [sys.executable, fake_container.__file__, str(port)]
    env = {**deployment.environment, "PATH": os.environ.get("PATH", "")}
    return Container(argv, env, port, log_path, on_log)


@dataclass
class Hosting:
    context: HostingContext
    gate: Path
    s3: Any
    hosts: list[EndpointHost] = field(default_factory=list)

    def deployment(self, config: str, **overrides: Any) -> Deployment:
        values: dict[str, Any] = {
            "config_name": config,
            "model_name": "m",
            "image": "",
            "model_data": f"s3://{BUCKET}/model.tar.gz",
            "environment": {"FAKE_GATE": str(self.gate)},
            "instance_count": 1,
            "max_concurrency": 1,
            "startup_timeout": 300,
            "output_path": f"s3://{BUCKET}/out/",
            "failure_path": f"s3://{BUCKET}/failed/",
            "success_topic": None,
            "error_topic": None,
        }
        return Deployment(**{**values, **overrides})

    def host(self, deployment: Deployment, name: str = "ep") -> EndpointHost:
        host = EndpointHost(name, deployment, self.context)
        self.hosts.append(host)
        host.start()
        return host

    def in_service(self, deployment: Deployment, name: str = "ep") -> EndpointHost:
        host = self.host(deployment, name)
        wait_until(lambda: host.state().status == "InService", "the endpoint in service")
        return host

    def submit(self, host: EndpointHost, **params: Any) -> Job:
        params = {"InputLocation": f"s3://{BUCKET}/input.bin", **params}
        job = job_for(host.name, params, host.deployment, None)
        assert host.accept(job)
        return job

    def result(self, job: Job) -> tuple[str, bytes] | None:
        for kind, location in (("output", job.output_location), ("failure", job.failure_location)):
            key = location.split("/", 3)[3]
            try:
                return kind, self.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
            except NotFoundError:  # wasync's clients raise its own errors (aws.py)
                continue
        return None

    def wait_result(self, job: Job) -> tuple[str, bytes]:
        return wait_until(lambda: self.result(job), f"the result of job {job.inference_id}")

    def hold(self) -> None:
        self.gate.touch()  # every invocation waits until release()

    def release(self) -> None:
        self.gate.unlink(missing_ok=True)


def stats(host: EndpointHost, index: int = 0) -> dict[str, int]:
    url = host.describe()["instances"][index]["url"]
    return dict(httpx.get(f"{url}/stats", timeout=10).json())


def model_folders(hosting: Hosting) -> list[Path]:
    root = hosting.context.models.root
    return sorted(root.iterdir()) if root.exists() else []


@pytest.fixture
def hosting(moto_clients, tmp_path: Path) -> Iterator[Hosting]:  # type: ignore[no-untyped-def]
    s3 = moto_clients.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        info = tarfile.TarInfo("model.bin")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"bytes"))
    s3.put_object(Bucket=BUCKET, Key="model.tar.gz", Body=archive.getvalue())
    s3.put_object(Bucket=BUCKET, Key="input.bin", Body=b"audio")
    state = tmp_path / "state"
    context = HostingContext(
        aws=AwsClients.from_clients(moto_clients),
        models=ModelStore(state / "models", s3),
        launcher=fake_launcher,
        logs_dir=state / "logs",
        metrics_period=0.05,
    )
    setup = Hosting(context, tmp_path / "gate", s3)
    yield setup
    setup.release()
    for host in setup.hosts:
        host.close(grace=5)


def test_update_to_a_lower_concurrency_runs_fewer_jobs_at_once(hosting: Hosting) -> None:
    host = hosting.in_service(hosting.deployment("three", max_concurrency=3))
    host.update(hosting.deployment("one", max_concurrency=1))
    wait_until(
        lambda: host.state().status == "InService" and host.state().config_name == "one",
        "the update to one job at a time",
    )
    hosting.hold()
    jobs = [hosting.submit(host) for _ in range(3)]
    wait_until(
        lambda: host.dispatcher.queue.counts() == (2, 1) and stats(host)["running"] == 1,
        "one job running and two waiting",
    )
    hosting.release()
    assert [hosting.wait_result(job)[0] for job in jobs] == ["output"] * 3
    assert stats(host)["peak"] == 1 and stats(host)["served"] == 3
    assert [i["workers"] for i in host.describe()["instances"]] == [1]


def test_instances_share_the_endpoint_queue(hosting: Hosting) -> None:
    host = hosting.in_service(hosting.deployment("two", instance_count=2))
    assert host.state().current_instances == 2
    hosting.hold()
    jobs = [hosting.submit(host) for _ in range(2)]
    wait_until(
        lambda: stats(host, 0)["running"] == 1 and stats(host, 1)["running"] == 1,
        "one job on each instance",
    )
    hosting.release()
    outputs = [json.loads(hosting.wait_result(job)[1]) for job in jobs]
    assert len({output["pid"] for output in outputs}) == 2


def busy_endpoint(hosting: Hosting) -> tuple[EndpointHost, Job]:
    """An endpoint with one worker, busy with a job that runs until `hosting.release()`."""
    host = hosting.in_service(hosting.deployment("one"))
    hosting.hold()
    running = hosting.submit(host)
    wait_until(lambda: stats(host)["running"] == 1, "the first job running")
    return host, running


def test_a_queued_job_past_its_ttl_fails_with_the_reason_while_no_worker_is_free(
    hosting: Hosting,
) -> None:
    host, running = busy_endpoint(hosting)
    waiting = hosting.submit(host, RequestTTLSeconds=1)
    kind, body = hosting.wait_result(waiting)
    assert kind == "failure"
    assert json.loads(body)["error"] == "request_expired"
    assert "RequestTTLSeconds of 1" in json.loads(body)["message"]
    hosting.release()
    assert hosting.wait_result(running)[0] == "output"
    assert stats(host)["served"] == 1  # the expired job never reached the container


def test_drain_fails_unfinished_jobs_once_and_drops_their_late_results(
    hosting: Hosting,
) -> None:
    host, running = busy_endpoint(hosting)
    waiting = hosting.submit(host)
    assert sorted(host.drain(grace=0)) == sorted([running.inference_id, waiting.inference_id])
    for job in (running, waiting):
        kind, body = hosting.wait_result(job)
        assert kind == "failure" and json.loads(body)["error"] == "stack_stopped"
    assert not host.accept(job_for(host.name, {}, host.deployment, None))
    hosting.release()
    wait_until(
        lambda: stats(host)["served"] == 1 and host.describe()["instances"][0]["running"] == 0,
        "the abandoned request to end",
    )
    key = running.output_location.split("/", 3)[3]
    assert "Contents" not in hosting.s3.list_objects_v2(Bucket=BUCKET, Prefix=key)


def test_a_failed_endpoint_fails_its_queued_jobs_with_the_reason(hosting: Hosting) -> None:
    broken = hosting.deployment("broken", environment={"FAKE_EXIT": "3"})
    host = hosting.host(broken)
    job = hosting.submit(host)  # queued while the endpoint is Creating
    wait_until(lambda: host.state().status == "Failed", "the endpoint to fail")
    assert "exited with code 3" in str(host.state().failure_reason)
    kind, body = hosting.wait_result(job)
    assert kind == "failure" and json.loads(body)["error"] == "endpoint_unavailable"
    assert "exited with code 3" in json.loads(body)["message"]
    assert model_folders(hosting) == []  # nothing of a failed creation stays on disk


def test_models_go_when_an_update_supersedes_them_or_the_endpoint_is_deleted(
    hosting: Hosting,
) -> None:
    host = hosting.in_service(hosting.deployment("first"))
    [first] = model_folders(hosting)
    host.update(hosting.deployment("second"))
    wait_until(
        lambda: host.state().config_name == "second" and first not in model_folders(hosting),
        "the superseded model folder to go",
    )
    assert len(model_folders(hosting)) == 1
    hosting.hold()
    job = hosting.submit(host)
    wait_until(lambda: stats(host)["running"] == 1, "a job running")
    host.close()
    kind, body = hosting.wait_result(job)
    assert kind == "failure" and "was deleted" in json.loads(body)["message"]
    assert model_folders(hosting) == []


def test_no_path_is_made_from_a_client_supplied_name(hosting: Hosting, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    hostile = hosting.deployment(f"{outside}/config")  # validation is bypassed on purpose
    host = hosting.in_service(hostile, name=f"../../{outside.name}/endpoint")
    assert hosting.wait_result(hosting.submit(host))[0] == "output"
    assert list(outside.iterdir()) == []
    state = tmp_path / "state"
    written = [p for p in tmp_path.rglob("*") if p != hosting.gate and p != outside]
    assert all(p.is_relative_to(state) for p in written), written
