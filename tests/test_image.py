"""build: the real ECR calls in moto; the builder is a recording stand-in on PATH."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from whisper_async import image_variants
from whisper_async.build_secrets import PipSettings
from whisper_async.cli.app import app
from whisper_async.errors import UsageError, WasyncError
from whisper_async.image import (
    BuildOptions,
    assemble_context,
    build_image,
    container_files,
    plan_build,
)

RECORDER = """#!/usr/bin/env python3
import json, os, sys
if sys.argv[1] == "info":
    sys.exit(0)
stdin = sys.stdin.read() if "--password-stdin" in sys.argv else ""
record = {"argv": sys.argv[1:], "stdin": stdin}
if sys.argv[1] == "build":
    ctx = sys.argv[-1]
    record["context"] = sorted(os.listdir(ctx))
    record["secrets"] = {
        a.split(",")[0][3:]: open(a.split("src=")[1]).read()
        for a in sys.argv if a.startswith("id=")
    }
    record["image"] = json.load(open(os.path.join(ctx, "wasync-image.json")))
with open(os.environ["RECORD_FILE"], "a") as log:
    log.write(json.dumps(record) + "\\n")
"""
NO_PIP_SETTINGS = PipSettings({}, None, ())


@pytest.fixture
def recording_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text(RECORDER)
    docker.chmod(docker.stat().st_mode | stat.S_IEXEC)
    record = tmp_path / "record.jsonl"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("RECORD_FILE", str(record))
    return record


def calls(record: Path) -> list[dict]:
    if not record.exists():
        return []
    return [json.loads(line) for line in record.read_text().splitlines()]


def build_args(argv: list[str]) -> dict[str, str]:
    pairs = [argv[i + 1] for i, a in enumerate(argv) if a == "--build-arg"]
    return dict(pair.split("=", 1) for pair in pairs)


def test_build_creates_repository_logs_in_via_stdin_and_pushes(
    moto_clients, recording_docker: Path
) -> None:
    result = build_image(moto_clients, BuildOptions(tag="t1"), settings=NO_PIP_SETTINGS)

    recorded = calls(recording_docker)
    assert [c["argv"][0] for c in recorded] == ["build", "login", "tag", "push"]
    assert recorded[0]["argv"][1:5] == ["--platform", "linux/amd64", "-t", "wasync:t1"]
    login = recorded[1]
    assert login["argv"][:4] == ["login", "--username", "AWS", "--password-stdin"]
    assert login["stdin"] and all(login["stdin"] not in " ".join(c["argv"]) for c in recorded)
    assert result.image_uri == "123456789012.dkr.ecr.us-east-1.amazonaws.com/wasync:t1"
    assert recorded[3]["argv"] == ["push", result.image_uri]
    repo = moto_clients.client("ecr").describe_repositories(repositoryNames=["wasync"])[
        "repositories"
    ][0]
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
    assert recorded[0]["context"] == [
        ".dockerignore",
        "Dockerfile",
        "requirements.lock",
        "wasync-image.json",
        "whisper_async",
    ]
    from whisper_async.state import recall

    assert recall(moto_clients.settings, "us-east-1", "image_uri") == result.image_uri
    build_image(moto_clients, BuildOptions(tag="t1"), settings=NO_PIP_SETTINGS)
    assert len(moto_clients.client("ecr").describe_repositories()["repositories"]) == 1


def test_default_build_is_the_slim_variant_and_says_so(
    moto_clients, recording_docker: Path
) -> None:
    result = build_image(moto_clients, BuildOptions(push=False), settings=NO_PIP_SETTINGS)

    (build,) = calls(recording_docker)
    assert re.fullmatch(r"0\.\d+\.\d+-faster-[0-9a-f]{10}", result.tag)
    args = build_args(build["argv"])
    assert args == {
        "BASE_IMAGE": image_variants.BASE_IMAGE,
        "WASYNC_VARIANT": "faster",
        "WASYNC_ENGINES": "faster",
    }
    assert build["image"]["engines"] == ["faster"] and build["image"]["torch"] is False
    assert result.engines == ("faster",) and not result.pushed


def test_openai_variant_installs_the_openai_lock(moto_clients, recording_docker: Path) -> None:
    runner = CliRunner()
    done = runner.invoke(app, ["build", "--no-push", "--with-openai"])

    assert done.exit_code == 0, done.output
    (build,) = calls(recording_docker)
    assert build_args(build["argv"])["WASYNC_ENGINES"] == "faster,openai"
    lock = (container_files() / "requirements" / "openai.txt").read_text()
    assert build["image"]["lock_sha256"] == __import__("hashlib").sha256(lock.encode()).hexdigest()
    assert "-openai-" in done.output


def test_build_args_and_base_image_reach_the_builder(moto_clients, recording_docker: Path) -> None:
    options = BuildOptions(
        push=False,
        base_image="localhost/debian:bookworm",
        build_args=("https_proxy=http://proxy.example:3128", "EMPTY="),
    )
    build_image(moto_clients, options, settings=NO_PIP_SETTINGS)

    args = build_args(calls(recording_docker)[0]["argv"])
    assert args["BASE_IMAGE"] == "localhost/debian:bookworm"
    assert args["https_proxy"] == "http://proxy.example:3128" and args["EMPTY"] == ""


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (BuildOptions(build_args=("BASE_IMAGE=x",)), "--base-image"),
        (BuildOptions(build_args=("no-equals",)), "NAME=VALUE"),
        (BuildOptions(variant="tensorflow"), "unknown image variant"),
        (BuildOptions(base_image="nvidia/cuda:13.0.1-cudnn-runtime-ubuntu24.04"), "CUDA 13.0"),
    ],
)
def test_bad_build_options_are_refused_before_building(
    moto_clients, recording_docker: Path, options: BuildOptions, message: str
) -> None:
    with pytest.raises(UsageError) as info:
        build_image(moto_clients, options, settings=NO_PIP_SETTINGS)
    assert message in str(info.value)
    assert calls(recording_docker) == []


def test_host_pip_settings_travel_as_secrets_not_as_build_args(
    moto_clients, recording_docker: Path, tmp_path: Path
) -> None:
    bundle = tmp_path / "corporate-ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    settings = PipSettings({"index-url": "https://user:token@mirror.example/simple"}, bundle, ())
    build_image(moto_clients, BuildOptions(push=False), settings=settings)

    (build,) = calls(recording_docker)
    assert build["secrets"]["ca-bundle"] == bundle.read_text()
    assert "index-url = https://user:token@mirror.example/simple" in build["secrets"]["pip.conf"]
    assert "cert = /run/secrets/ca-bundle" in build["secrets"]["pip.conf"]
    assert "token" not in " ".join(a for a in build["argv"] if not a.startswith("id="))
    assert not Path(build["argv"][-1]).parent.exists(), "the context and secrets outlived the build"


def test_dry_run_prints_the_plan_and_does_nothing(moto_clients, recording_docker: Path) -> None:
    done = CliRunner().invoke(app, ["build", "--dry-run", "--build-arg", "http_proxy=http://p:1"])

    assert done.exit_code == 0, done.output
    assert calls(recording_docker) == []
    assert moto_clients.client("ecr").describe_repositories()["repositories"] == []
    for expected in ("docker build", "http_proxy=http://p:1", "create repository", "login"):
        assert expected in done.output
    assert "--password-stdin" in done.output and "push" in done.output


def test_dry_run_without_a_working_builder_still_shows_the_plan(
    moto_clients, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    plan = plan_build(moto_clients, BuildOptions(), settings=NO_PIP_SETTINGS)
    assert plan.steps[0].argv[:2] == ("docker", "build")
    assert any("a real build would stop here" in note for note in plan.notes)


def test_no_builder_names_the_alternatives(
    moto_clients, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(WasyncError) as info:
        build_image(moto_clients, settings=NO_PIP_SETTINGS)
    assert "docker, podman, finch" in (info.value.hint or "")


def test_context_hash_is_stable_and_covers_lock_base_and_build_args(tmp_path: Path) -> None:
    def digest(name: str, **kwargs: object) -> str:
        folder = tmp_path / name
        folder.mkdir()
        return assemble_context(folder, **kwargs)  # type: ignore[arg-type]

    first = digest("a")
    assert first == digest("b")
    assert first != digest("c", variant="openai")
    assert first != digest("d", base_image="localhost/debian:bookworm")
    assert first != digest("e", build_args=[("http_proxy", "http://p:1")])
    dockerfile = (tmp_path / "a" / "Dockerfile").read_text()
    assert "com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true" in dockerfile
    assert 'CMD ["serve"]' in dockerfile and "--require-hashes" in dockerfile
    assert "--mount=type=secret,id=pip.conf" in dockerfile


def test_dockerfile_default_base_is_the_one_the_locks_are_made_for() -> None:
    dockerfile = (container_files() / "Dockerfile").read_text()
    assert f"ARG BASE_IMAGE={image_variants.BASE_IMAGE}\n" in dockerfile
    assert image_variants.base_cuda(image_variants.BASE_IMAGE) == tuple(
        int(part) for part in image_variants.BASE_CUDA.split(".")
    )
