"""A real local stack for tests: started in a private state folder, stopped afterwards.

Tests that share one stack must not see each other's jobs. Two tools keep them apart:
`own_endpoint()` deploys an endpoint for one test and deletes it afterwards (its topics and
its queue are its own, and a long job left behind dies with it), and `wait_idle()` waits until
no endpoint has a queued or running job, which the shared fixture does before every test.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner, Result

from tests.helpers.waiting import wait_until
from whisper_async.cli.app import app
from whisper_async.local import stack

_names = itertools.count(1)


@dataclass
class RunningStack:
    state_dir: Path
    env: dict[str, str]

    def cli(self, *args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(app, list(args), env=self.env, input=input)

    def subprocess(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        """The CLI as a fresh process, as a user's shell runs it."""
        return subprocess.run(
            [sys.executable, "-m", "whisper_async.cli", *args],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            input=input,
            timeout=300,
        )

    def boto3_client(self, service: str) -> Any:
        """A plain boto3 client for the stack, as a user's script makes one after `local env`."""
        import boto3

        from whisper_async.settings import SERVICE_ENV_NAMES

        return boto3.session.Session(
            aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"],
            region_name=self.env["AWS_DEFAULT_REGION"],
        ).client(
            service,
            endpoint_url=self.env[f"AWS_ENDPOINT_URL_{SERVICE_ENV_NAMES[service]}"],
        )

    def endpoints(self) -> dict[str, dict[str, Any]]:
        """What `wasync local status` shows of each endpoint: status, queue, instances."""
        url = self.env["AWS_ENDPOINT_URL_SAGEMAKER"] + "/_wasync/status"
        return {e["name"]: e for e in httpx.get(url, timeout=30).json()["endpoints"]}

    def wait_idle(self) -> None:
        """Wait until no endpoint has a job queued or running."""
        wait_until(
            lambda: not any(e["queued"] or e["running"] for e in self.endpoints().values()),
            "every endpoint of the shared stack to finish its jobs",
        )

    @contextlib.contextmanager
    def own_endpoint(self, *deploy_args: str) -> Iterator[str]:
        """A new endpoint of the last pushed model, with SNS topics, for one test."""
        name = f"t{os.getpid()}-{next(_names)}"
        deployed = self.cli("-e", name, "deploy", "--notify", *deploy_args)
        assert deployed.exit_code == 0, deployed.output
        try:
            yield name
        finally:
            self.cli("-e", name, "delete", "--yes")


@contextlib.contextmanager
def running_stack(state_dir: Path, **options: Any) -> Iterator[RunningStack]:
    """`wasync local up` in `state_dir` (options as `stack.up` takes them), then down."""
    info = stack.up(state_dir, **options)
    env = stack.environment(state_dir)
    env["XDG_CONFIG_HOME"] = str(state_dir / "config")
    try:
        yield RunningStack(state_dir, env)
    finally:
        stack.down(info.state_dir, grace=5)
