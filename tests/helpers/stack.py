"""A real local stack for tests: started in a private state folder, stopped afterwards."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner, Result

from whisper_async.cli.app import app
from whisper_async.local import stack


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


@contextlib.contextmanager
def running_stack(state_dir: Path) -> Iterator[RunningStack]:
    info = stack.up(state_dir)
    env = dict(line.removeprefix("export ").split("=", 1) for line in stack.environment(state_dir))
    env["XDG_CONFIG_HOME"] = str(state_dir / "config")
    try:
        yield RunningStack(state_dir, env)
    finally:
        stack.down(info.state_dir, grace=5)
