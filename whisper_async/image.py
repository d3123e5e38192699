"""build: assemble the serving image's context from the installed package, build it, push to ECR."""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import importlib.resources
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import __version__, naming, state
from .clients import Clients
from .errors import NotFoundError, UsageError, WasyncError

BUILDERS = ("docker", "podman", "finch")
PACKAGE_ROOT = Path(__file__).resolve().parent
_EXTRA = re.compile(r"""extra\s*==\s*["']([\w-]+)["']""")

Runner = Callable[[Sequence[str], bytes | None], int]


def run_command(argv: Sequence[str], stdin: bytes | None = None) -> int:
    """Run without a shell; the builder's output goes to stderr so --json stays clean."""
    return subprocess.run(list(argv), input=stdin, stdout=sys.stderr, check=False).returncode


@dataclass(frozen=True)
class BuildResult:
    image_uri: str
    local_tag: str
    tag: str
    builder: str
    pushed: bool
    context_sha256: str


def serving_requirements(extras: Sequence[str] = ("serve", "openai")) -> list[str]:
    """The serve and openai extras' requirements, from the installed package's metadata."""
    requirements = []
    for requirement in importlib.metadata.requires("wasync") or []:
        spec, _, marker = requirement.partition(";")
        match = _EXTRA.search(marker)
        if match and match.group(1) in extras and not spec.strip().startswith("wasync"):
            requirements.append(spec.strip())
    return sorted(set(requirements))


def assemble_context(target: Path) -> str:
    """Write the build context; return a sha256 over its contents (the tag's content hash)."""
    container = importlib.resources.files("whisper_async.container")
    shutil.copy(str(container / "Dockerfile"), target / "Dockerfile")
    shutil.copy(str(container / ".dockerignore"), target / ".dockerignore")
    (target / "requirements.txt").write_text("\n".join(serving_requirements()) + "\n")
    shutil.copytree(
        PACKAGE_ROOT,
        target / "whisper_async",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "container"),
    )
    digest = hashlib.sha256()
    for path in sorted(p for p in target.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(target)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def find_builder(preferred: str | None) -> str:
    candidates = [preferred] if preferred else list(BUILDERS)
    for name in candidates:
        if name not in BUILDERS:
            raise UsageError(f"unknown builder {name!r}", f"use one of {', '.join(BUILDERS)}")
        path = shutil.which(name)
        if path:
            return path
    wanted = preferred or "a container builder"
    raise WasyncError(
        f"No {wanted} found on PATH.",
        f"install one of {', '.join(BUILDERS)} (Docker Desktop, Podman or Finch), or pass --builder",
    )


def ensure_repository(clients: Clients) -> str:
    ecr = clients.client("ecr")
    try:
        repo = ecr.describe_repositories(repositoryNames=[naming.REPOSITORY])["repositories"][0]
    except NotFoundError:
        repo = ecr.create_repository(
            repositoryName=naming.REPOSITORY,
            imageScanningConfiguration={"scanOnPush": True},
            tags=[naming.MANAGED_TAG],
        )["repository"]
    return str(repo["repositoryUri"])


def registry_login(clients: Clients, builder: str, run: Runner) -> None:
    """Log the builder in; the password goes through stdin, never an argument or a log."""
    auth = clients.client("ecr").get_authorization_token()["authorizationData"][0]
    user, _, password = base64.b64decode(auth["authorizationToken"]).decode().partition(":")
    registry = auth["proxyEndpoint"].removeprefix("https://")
    if (
        run([builder, "login", "--username", user, "--password-stdin", registry], password.encode())
        != 0
    ):
        raise WasyncError(
            f"{Path(builder).name} login to {registry} failed",
            "check that the builder's daemon is running",
        )


def build_image(
    clients: Clients,
    tag: str | None = None,
    platform: str = "linux/amd64",
    push: bool = True,
    builder: str | None = None,
    run: Runner = run_command,
) -> BuildResult:
    executable = find_builder(builder)
    with tempfile.TemporaryDirectory(prefix="wasync-build-") as directory:
        context = Path(directory)
        context_sha = assemble_context(context)
        tag = tag or f"{__version__}-{context_sha[:10]}"
        local = f"{naming.REPOSITORY}:{tag}"
        argv = [
            executable,
            "build",
            "--platform",
            platform,
            "-t",
            local,
            "-f",
            str(context / "Dockerfile"),
            str(context),
        ]
        if run(argv, None) != 0:
            raise WasyncError(
                f"{Path(executable).name} build failed", "see the builder's output above"
            )
    push = push and not clients.settings.is_local  # the local stack runs the server as a process
    image_uri = local
    if push:
        repository = ensure_repository(clients)
        registry_login(clients, executable, run)
        image_uri = f"{repository}:{tag}"
        for step in (["tag", local, image_uri], ["push", image_uri]):
            if run([executable, *step], None) != 0:
                raise WasyncError(
                    f"{Path(executable).name} {step[0]} failed", "see the builder's output above"
                )
    state.remember(clients.settings, clients.region, "image_uri", image_uri)
    return BuildResult(image_uri, local, tag, Path(executable).name, push, context_sha)
