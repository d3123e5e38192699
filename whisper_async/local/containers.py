"""The local stack's container runtimes: which engine runs the serving image, and how.

`process` runs the serving code as a local process (no engine needed). `podman`, `docker` and
`finch` run the built image with that engine, and only that one: `--runtime podman` never falls
back to a `docker` binary, and an engine that is installed but not running is refused at
`local up`, with the reason, instead of failing at the first deploy.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path

from ..container_engines import ENGINES, Prober, check_name, find_engine, probe

PROCESS = "process"
RUNTIMES = (PROCESS, *ENGINES)
STOP_TIMEOUT = 10.0


def engine_for(runtime: str, prober: Prober = probe) -> str | None:
    """The engine's path for a container runtime (None for `process`); raises when the engine
    named is missing or not working."""
    if runtime == PROCESS:
        return None
    check_name(runtime, RUNTIMES)
    return find_engine(runtime, "run the serving image", prober, candidates=ENGINES)


def container_name(port: int) -> str:
    """A name per container, so a container whose client was killed can still be removed."""
    return f"wasync-local-{port}"


def run_argv(
    engine: str,
    image: str,
    port: int,
    model_dir: Path,
    environment: Mapping[str, str],
) -> list[str]:
    """`ENGINE run IMAGE serve` as SageMaker runs it: the model read-only at /opt/ml/model, port
    8080 published on loopback only. The client stays attached and passes SIGTERM on."""
    argv = [
        engine,
        "run",
        "--rm",
        "--name",
        container_name(port),
        "-p",
        f"127.0.0.1:{port}:8080",
        "-v",
        f"{model_dir}:/opt/ml/model:ro",
    ]
    for key, value in environment.items():
        argv += ["-e", f"{key}={value}"]
    return [*argv, image, "serve"]


def remove_container(engine: str, port: int) -> None:
    """Force-remove a container left behind when its client had to be killed."""
    subprocess.run(
        [engine, "rm", "--force", container_name(port)],
        capture_output=True,
        timeout=STOP_TIMEOUT * 3,
        check=False,
    )
