"""Real EndpointHosts for hosting tests: real container processes (fake_container.py: the
container contract without a model, so each test takes seconds) and moto in-process for S3."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import fake_container
from tests.helpers.archives import gzip_tar
from tests.helpers.waiting import wait_until
from whisper_async.errors import NotFoundError
from whisper_async.local.deployment import Deployment
from whisper_async.local.hosting import EndpointHost, HostingContext, describe
from whisper_async.local.jobqueue import Job, job_for
from whisper_async.local.modelstore import ModelStore
from whisper_async.local.runtime import Container, free_port
from whisper_async.local.sink import AwsClients
from whisper_async.local.timescale import TimeScale

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
            "variant_name": "AllTraffic",
            "async_config": {},
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
    url = describe(host)["instances"][index]["url"]
    return dict(httpx.get(f"{url}/stats", timeout=10).json())


def model_folders(hosting: Hosting) -> list[Path]:
    root = hosting.context.models.root
    return sorted(root.iterdir()) if root.exists() else []


@pytest.fixture
def hosting(moto_clients, tmp_path: Path) -> Iterator[Hosting]:  # type: ignore[no-untyped-def]
    s3 = moto_clients.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="model.tar.gz", Body=gzip_tar({"model.bin": b"bytes"}))
    s3.put_object(Bucket=BUCKET, Key="input.bin", Body=b"audio")
    state = tmp_path / "state"
    context = HostingContext(
        aws=AwsClients.from_clients(moto_clients),
        models=ModelStore(state / "models", s3),
        launcher=fake_launcher,
        logs_dir=state / "logs",
        time_scale=TimeScale(60),  # TTLs pass 60x faster; nothing else here depends on it
    )
    setup = Hosting(context, tmp_path / "gate", s3)
    yield setup
    setup.release()
    for host in setup.hosts:
        host.close(grace=5)
