"""build: assemble the serving image's context, build it, push it to ECR.

A build is first a plan (the builder's argv, then the ECR steps), then its execution; `--dry-run`
prints the same plan and does nothing.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import importlib.resources
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__, image_capabilities, image_variants, naming, state
from .assignments import split_assignment
from .build_secrets import BuildSecret, PipSettings, host_pip_settings, write_secrets
from .clients import Clients
from .container_engines import ENGINES, Prober, find_engine, probe
from .errors import ConfigurationError, NotFoundError, UsageError, WasyncError

BUILDERS = ENGINES
PACKAGE_ROOT = Path(__file__).resolve().parent
IMAGE_FILE = "wasync-image.json"
LOCK_FILE = "requirements.lock"
# Build args the build sets itself, from --base-image and --engine.
RESERVED_ARGS = {
    "BASE_IMAGE": "--base-image",
    "WASYNC_VARIANT": "--engine",
    "WASYNC_ENGINES": "--engine",
}

Runner = Callable[[Sequence[str], bytes | None], int]


def run_command(argv: Sequence[str], stdin: bytes | None = None) -> int:
    """Run without a shell; the builder's output goes to stderr so --json stays clean."""
    try:
        out: int = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # stderr is not a file (e.g. captured)
        out = 2
    return subprocess.run(list(argv), input=stdin, stdout=out, check=False).returncode


@dataclass(frozen=True)
class BuildOptions:
    tag: str | None = None
    platform: str = "linux/amd64"
    push: bool = True
    builder: str | None = None
    variant: str = image_variants.DEFAULT_VARIANT
    base_image: str = image_variants.BASE_IMAGE
    build_args: tuple[str, ...] = ()  # "KEY=VALUE", as given


@dataclass(frozen=True)
class PlanStep:
    action: str  # build, create-repository, login, tag, push
    description: str
    argv: tuple[str, ...] = ()

    def render(self) -> str:
        return f"{self.description}\n    {shlex.join(self.argv)}" if self.argv else self.description


@dataclass(frozen=True)
class BuildPlan:
    builder: str
    variant: str
    engines: tuple[str, ...]
    base_image: str
    tag: str
    local_tag: str
    image_uri: str
    push: bool
    context_sha256: str
    steps: tuple[PlanStep, ...]
    secrets: tuple[str, ...]  # the secret ids handed to the build
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class BuildResult:
    image_uri: str
    local_tag: str
    tag: str
    builder: str
    pushed: bool
    context_sha256: str
    variant: str = image_variants.DEFAULT_VARIANT
    engines: tuple[str, ...] = ("faster",)
    notes: tuple[str, ...] = field(default=())


def container_files() -> Path:
    return Path(str(importlib.resources.files("whisper_async.container")))


def chosen_variant(name: str) -> image_variants.Variant:
    try:
        return image_variants.variant(name)
    except ValueError as exc:
        raise UsageError(str(exc), "use --engine faster (the default) or --engine openai") from None


def parse_build_args(values: Sequence[str]) -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        key, setting = split_assignment(value, "--build-arg", "https_proxy=http://proxy:3128")
        if key in RESERVED_ARGS:
            raise UsageError(
                f"--build-arg {key} is set by wasync build", f"use {RESERVED_ARGS[key]} instead"
            )
        pairs.append((key, setting))
    return pairs


def check_base_image(base_image: str, chosen: image_variants.Variant) -> None:
    """Refuse an nvidia/cuda base whose CUDA major differs from the locked CUDA wheels'."""
    cuda = image_variants.base_cuda(base_image)
    locked = int(image_variants.BASE_CUDA.split(".")[0])
    if cuda is not None and cuda[0] != locked:
        what = "CTranslate2 and torch" if chosen.torch else "CTranslate2"
        raise UsageError(
            f"--base-image {base_image} has CUDA {cuda[0]}.{cuda[1]}, but the locked {what} "
            f"need CUDA {locked}",
            f"use an nvidia/cuda:{locked}.x base (the default is {image_variants.BASE_IMAGE})",
        )


def image_description(chosen: image_variants.Variant, lock_sha256: str, base_image: str) -> str:
    """wasync-image.json: what the image holds; the server reads it at start."""
    return (
        json.dumps(
            {
                "variant": chosen.name,
                "engines": list(chosen.engines),
                "torch": chosen.torch,
                "lock_sha256": lock_sha256,
                "base_image": base_image,
                "wasync_version": __version__,
            },
            indent=2,
            sort_keys=True,
        )
        + "\n"
    )


def assemble_context(
    target: Path,
    variant: str = image_variants.DEFAULT_VARIANT,
    base_image: str = image_variants.BASE_IMAGE,
    build_args: Sequence[tuple[str, str]] = (),
    platform: str = "linux/amd64",
) -> str:
    """Write the build context; return a sha256 over its contents and every build input (the
    lock included), which is the tag's content hash."""
    chosen = image_variants.variant(variant)
    container = container_files()
    shutil.copy(container / "Dockerfile", target / "Dockerfile")
    shutil.copy(container / ".dockerignore", target / ".dockerignore")
    lock = image_variants.lock_path(container, chosen).read_bytes()
    (target / LOCK_FILE).write_bytes(lock)
    (target / IMAGE_FILE).write_text(
        image_description(chosen, hashlib.sha256(lock).hexdigest(), base_image)
    )
    shutil.copytree(
        PACKAGE_ROOT,
        target / "whisper_async",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "container"),
    )
    digest = hashlib.sha256()
    for path in sorted(p for p in target.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(target)).encode() + b"\0" + path.read_bytes())
    inputs = [f"base={base_image}", f"platform={platform}", *(f"{k}={v}" for k, v in build_args)]
    digest.update("\0".join(inputs).encode())
    return digest.hexdigest()


def find_builder(preferred: str | None, prober: Prober = probe) -> str:
    """A builder that works (`NAME info` succeeds), not merely one on PATH."""
    return find_engine(preferred, "build the image", prober)


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


def build_argv(
    builder: str,
    context: Path,
    local_tag: str,
    options: BuildOptions,
    build_args: Sequence[tuple[str, str]],
    secrets: Sequence[BuildSecret],
) -> list[str]:
    chosen = image_variants.variant(options.variant)
    argv = [builder, "build", "--platform", options.platform, "-t", local_tag]
    argv += ["-f", str(context / "Dockerfile")]
    for key, value in [
        ("BASE_IMAGE", options.base_image),
        ("WASYNC_VARIANT", chosen.name),
        ("WASYNC_ENGINES", ",".join(chosen.engines)),
        *build_args,
    ]:
        argv += ["--build-arg", f"{key}={value}"]
    for secret in secrets:
        argv += ["--secret", secret.argument()]
    return [*argv, str(context)]


def _settings_notes(settings: PipSettings) -> list[str]:
    forwarded = sorted(settings.values) + (
        ["cert (as the ca-bundle secret)"] if settings.cert else []
    )
    notes = []
    if forwarded:
        notes.append("host pip settings passed as build secrets: " + ", ".join(forwarded))
    if settings.dropped:
        notes.append("host pip settings left out of the build: " + ", ".join(settings.dropped))
    return notes


@contextmanager
def prepared_build(
    options: BuildOptions, builder: str, settings: PipSettings
) -> Iterator[tuple[BuildPlan, list[str]]]:
    """Assemble the context and the secrets in a temporary folder; yield the plan and the build
    argv. Everything is removed on exit."""
    chosen = chosen_variant(options.variant)
    check_base_image(options.base_image, chosen)
    build_args = parse_build_args(options.build_args)
    with tempfile.TemporaryDirectory(prefix="wasync-build-") as directory:
        root = Path(directory)
        context, secret_dir = root / "context", root / "secrets"
        context.mkdir()
        secret_dir.mkdir(mode=0o700)
        context_sha = assemble_context(
            context, chosen.name, options.base_image, build_args, options.platform
        )
        tag = options.tag or f"{__version__}-{chosen.name}-{context_sha[:10]}"
        local = f"{naming.REPOSITORY}:{tag}"
        secrets = write_secrets(settings, secret_dir)
        argv = build_argv(builder, context, local, options, build_args, secrets)
        name = Path(builder).name
        steps = [
            PlanStep("build", f"build {local} ({chosen.name} variant) with {name}", tuple(argv))
        ]
        if options.push:
            remote = f"<account>.dkr.ecr.<region>.amazonaws.com/{naming.REPOSITORY}:{tag}"
            steps += [
                PlanStep(
                    "create-repository",
                    f"ECR: create repository {naming.REPOSITORY} if missing (scan on push, "
                    "tagged managed-by wasync)",
                ),
                PlanStep(
                    "login",
                    "ECR: get an authorization token; log the builder in, password on stdin",
                    (builder, "login", "--username", "AWS", "--password-stdin", "<registry>"),
                ),
                PlanStep("tag", f"tag {local} as {remote}", (builder, "tag", local, remote)),
                PlanStep("push", f"push {remote}", (builder, "push", remote)),
            ]
        plan = BuildPlan(
            builder=name,
            variant=chosen.name,
            engines=chosen.engines,
            base_image=options.base_image,
            tag=tag,
            local_tag=local,
            image_uri=local,
            push=options.push,
            context_sha256=context_sha,
            steps=tuple(steps),
            secrets=tuple(s.id for s in secrets),
            notes=tuple(_settings_notes(settings)),
        )
        yield plan, argv


def plan_build(
    clients: Clients,
    options: BuildOptions,
    prober: Prober = probe,
    settings: PipSettings | None = None,
) -> BuildPlan:
    """What `build` would do, without doing any of it: no build, no AWS call."""
    options = _effective(clients, options)
    notes: list[str] = []
    try:
        builder = find_builder(options.builder, prober)
    except UsageError:
        raise
    except WasyncError as exc:
        builder = options.builder or BUILDERS[0]
        notes.append(f"a real build would stop here: {exc.message}")
    with prepared_build(options, builder, settings or host_pip_settings()) as (plan, _):
        return dataclasses.replace(plan, notes=(*plan.notes, *notes))


def _effective(clients: Clients, options: BuildOptions) -> BuildOptions:
    # The local stack runs the image from the local builder's store: nothing to push.
    if options.push and clients.settings.is_local:
        return dataclasses.replace(options, push=False)
    return options


def build_image(
    clients: Clients,
    options: BuildOptions | None = None,
    run: Runner = run_command,
    prober: Prober = probe,
    settings: PipSettings | None = None,
) -> BuildResult:
    options = _effective(clients, options or BuildOptions())
    state.check_writable(clients.settings)
    if options.push:
        clients.region  # noqa: B018 - a push needs a region: fail now, not after a long build
    executable = find_builder(options.builder, prober)
    with prepared_build(options, executable, settings or host_pip_settings()) as (plan, argv):
        if run(argv, None) != 0:
            raise WasyncError(f"{plan.builder} build failed", "see the builder's output above")
    image_uri = plan.local_tag
    if options.push:
        repository = ensure_repository(clients)
        registry_login(clients, executable, run)
        image_uri = f"{repository}:{plan.tag}"
        for step in (["tag", plan.local_tag, image_uri], ["push", image_uri]):
            if run([executable, *step], None) != 0:
                raise WasyncError(
                    f"{plan.builder} {step[0]} failed", "see the builder's output above"
                )
    notes = list(plan.notes)
    try:
        state.remember(clients.settings, clients.region, "image_uri", image_uri)
        image_capabilities.remember(clients, image_uri, plan.engines)
    except ConfigurationError:
        notes.append("not remembered as deploy's default image: no AWS region is set")
    return BuildResult(
        image_uri,
        plan.local_tag,
        plan.tag,
        plan.builder,
        options.push,
        plan.context_sha256,
        plan.variant,
        plan.engines,
        tuple(notes),
    )
