"""build: the real ECR calls in moto; the builder is a recording stand-in on PATH."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from whisper_async.errors import WasyncError
from whisper_async.image import assemble_context, build_image, serving_requirements

RECORDER = """#!/usr/bin/env python3
import json, os, sys
stdin = sys.stdin.read() if "--password-stdin" in sys.argv else ""
with open(os.environ["RECORD_FILE"], "a") as log:
    log.write(json.dumps({"argv": sys.argv[1:], "stdin": stdin}) + "\\n")
if sys.argv[1] == "build":
    ctx = sys.argv[-1]
    with open(os.environ["RECORD_FILE"] + ".context", "w") as out:
        out.write("\\n".join(sorted(os.listdir(ctx))))
"""


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
    import json

    return [json.loads(line) for line in record.read_text().splitlines()]


def test_build_creates_repository_logs_in_via_stdin_and_pushes(
    moto_clients, recording_docker: Path
) -> None:
    result = build_image(moto_clients, tag="t1")

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
    context = (recording_docker.parent / "record.jsonl.context").read_text().split()
    assert context == [".dockerignore", "Dockerfile", "requirements.txt", "whisper_async"]
    from whisper_async.state import recall

    assert recall(moto_clients.settings, "us-east-1", "image_uri") == result.image_uri
    build_image(moto_clients, tag="t1")  # re-run reuses the repository
    assert len(moto_clients.client("ecr").describe_repositories()["repositories"]) == 1


def test_no_push_builds_only(moto_clients, recording_docker: Path) -> None:
    result = build_image(moto_clients, push=False)
    assert [c["argv"][0] for c in calls(recording_docker)] == ["build"]
    assert not result.pushed and result.tag.startswith("0.")


def test_no_builder_names_the_alternatives(
    moto_clients, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(WasyncError) as info:
        build_image(moto_clients)
    assert "docker, podman, finch" in (info.value.hint or "")


def test_context_tag_hash_is_stable_and_requirements_come_from_the_extras(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    assert assemble_context(tmp_path / "a") == assemble_context(tmp_path / "b")
    requirements = " ".join(serving_requirements())
    assert (
        "faster-whisper" in requirements
        and "openai-whisper" in requirements
        and "uvicorn" in requirements
    )
    dockerfile = (tmp_path / "a" / "Dockerfile").read_text()
    assert "com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true" in dockerfile
    assert "cudnn" in dockerfile and 'CMD ["serve"]' in dockerfile
