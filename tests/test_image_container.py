"""The serving image, built by `wasync build` with podman and run for real (`make test-image`).

One slim image is built for the module, on a Debian base made with debootstrap (the CUDA base
cannot be pulled here). It is run alone, as SageMaker runs it, then under the local stack with
`--runtime podman`. Without a usable engine every test here is skipped with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.helpers.image_gate import skip_reason
from tests.helpers.processes import free_port, wait_for_status
from whisper_async.build_secrets import host_pip_settings

ROOT = Path(__file__).resolve().parents[1]
REASON = skip_reason(os.environ)
pytestmark = [pytest.mark.slow, pytest.mark.skipif(REASON is not None, reason=REASON or "")]
PODMAN = shutil.which("podman") or "podman"
STARTUP = 180.0  # seconds: a loaded 2-core machine; the wait ends as soon as /ping is 200


def podman(
    *args: str, check: bool = True, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PODMAN, *args], capture_output=True, text=True, check=check, timeout=timeout
    )


def wasync(
    *args: str, env: dict[str, str], timeout: float = 1200
) -> subprocess.CompletedProcess[str]:
    """The CLI as a user's shell runs it."""
    return subprocess.run(
        [sys.executable, "-m", "whisper_async.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@dataclass(frozen=True)
class BuiltImage:
    tag: str
    base: str
    markers: tuple[str, ...]  # strings that exist only in the build secrets
    build_env: dict[str, str]


def base_image() -> str:
    given = os.environ.get("WASYNC_TEST_BASE_IMAGE")
    if given:
        return given
    made = subprocess.run(
        ["bash", str(ROOT / "scripts" / "image-base.sh"), "podman"],
        capture_output=True,
        text=True,
        check=True,
        timeout=900,
    )
    return made.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> BuiltImage:
    """`wasync build --builder podman --no-push`, with host pip settings that carry markers."""
    folder = tmp_path_factory.mktemp("build")
    marker = f"wasync-secret-{uuid.uuid4().hex}"
    host = host_pip_settings()
    bundle = folder / "ca-bundle.pem"
    if host.cert is not None:
        bundle.write_bytes(host.cert.read_bytes())
    else:
        import certifi

        bundle.write_bytes(Path(certifi.where()).read_bytes())
    with bundle.open("a") as out:  # text outside BEGIN/END blocks is ignored by OpenSSL
        out.write(f"\n# {marker}-ca\n")
    conf = folder / "pip.conf"
    conf.write_text(f"[global]\ntrusted-host = {marker}-conf.invalid\n")
    env = {
        **os.environ,
        "PIP_CONFIG_FILE": str(conf),
        "PIP_CERT": str(bundle),
        "WASYNC_STATE_DIR": str(folder / "state"),
        "XDG_CONFIG_HOME": str(folder / "config"),
    }
    base = base_image()
    done = wasync("build", "--builder", "podman", "--no-push", "--base-image", base, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    tag = done.stdout.strip().splitlines()[-1]
    assert "host pip settings passed as build secrets" in done.stderr
    return BuiltImage(tag, base, (f"{marker}-ca", f"{marker}-conf"), env)


@dataclass
class Running:
    name: str
    url: str

    def logs(self) -> str:
        done = podman("logs", self.name, check=False)
        return done.stdout + done.stderr


@pytest.fixture
def serving(built: BuiltImage, tiny_en_dir: Path) -> Iterator[Running]:
    """`podman run -p 127.0.0.1:PORT:8080 -v MODEL:/opt/ml/model:ro IMAGE serve`."""
    port = free_port()
    name = f"wasync-test-{port}"
    podman(
        "run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8080",
        "-v", f"{tiny_en_dir}:/opt/ml/model:ro",
        # a grace no loaded machine outlasts: the SIGTERM test is about order, not speed
        "-e", "WASYNC_DRAIN_SECONDS=600", built.tag, "serve",
    )  # fmt: skip
    running = Running(name, f"http://127.0.0.1:{port}")
    try:
        wait_for_status(f"{running.url}/ping", 200, timeout=STARTUP)
        yield running
    finally:
        podman("rm", "--force", "--time", "5", name, check=False)


def test_slim_image_labels_say_faster_and_it_holds_no_torch_pip_or_compiler(
    built: BuiltImage,
) -> None:
    labels = json.loads(podman("image", "inspect", built.tag).stdout)[0]["Config"]["Labels"]
    assert labels["io.wasync.engines"] == "faster" and labels["io.wasync.variant"] == "faster"
    assert labels["com.amazonaws.sagemaker.capabilities.accept-bind-to-port"] == "true"
    probe = (
        "import importlib.util as u, json, shutil\n"
        "print(json.dumps({m: u.find_spec(m) is not None for m in ('torch', 'pip', 'faster_whisper')}"
        " | {t: shutil.which(t) for t in ('gcc', 'cc', 'make')}))"
    )
    found = json.loads(
        podman("run", "--rm", "--entrypoint", "python3", built.tag, "-c", probe).stdout
    )
    assert found == {
        "torch": False, "pip": False, "faster_whisper": True, "gcc": None, "cc": None, "make": None
    }  # fmt: skip


def test_no_layer_holds_the_build_secrets(built: BuiltImage, tmp_path: Path) -> None:
    archive = tmp_path / "image.tar"
    podman("save", "--format", "docker-archive", "-o", str(archive), built.tag)
    markers = [m.encode() for m in built.markers]
    layers = 0
    with tarfile.open(archive) as image:
        for member in image.getmembers():
            if not member.name.endswith(".tar"):
                continue
            layers += 1
            handle = image.extractfile(member)
            assert handle is not None
            with tarfile.open(fileobj=handle, mode="r|") as layer:
                for entry in layer:
                    assert not entry.name.lstrip("./").startswith("run/secrets/"), entry.name
                    if not entry.isfile():
                        continue
                    data = layer.extractfile(entry)
                    content = data.read() if data else b""
                    for marker in markers:
                        assert marker not in content, f"{marker!r} in {member.name}:{entry.name}"
    assert layers >= 3


def test_serves_ping_transcribes_refuses_corrupt_audio_and_runs_unprivileged(
    serving: Running, data_dir: Path
) -> None:
    answer = httpx.post(
        f"{serving.url}/invocations",
        content=(data_dir / "en_short.wav").read_bytes(),
        timeout=STARTUP,
    )
    assert answer.status_code == 200, answer.text
    assert "lazy dog" in answer.json()["text"].lower()
    corrupt = httpx.post(
        f"{serving.url}/invocations", content=(data_dir / "corrupt.mp3").read_bytes(), timeout=60
    )
    assert corrupt.status_code == 415 and corrupt.json()["error"] == "undecodable_audio"
    assert httpx.get(f"{serving.url}/ping", timeout=10).status_code == 200
    # the server and its decoder server (decoder_process.py), both unprivileged
    users = podman("top", serving.name, "user").stdout.split()[1:]
    assert users and set(users) == {"wasync"}, users
    assert "running as wasync" in serving.logs()


def test_train_exits_non_zero_with_a_message(built: BuiltImage) -> None:
    done = podman("run", "--rm", built.tag, "train", check=False)
    assert done.returncode == 2
    assert "training is not supported" in done.stderr


def test_an_openai_model_on_the_slim_image_stops_with_the_fix(
    built: BuiltImage, tiny_en_pt_dir: Path
) -> None:
    done = podman(
        "run", "--rm", "-v", f"{tiny_en_pt_dir}:/opt/ml/model:ro", built.tag, "serve", check=False
    )
    assert done.returncode == 3
    assert "needs the openai engine" in done.stderr and "--engine openai" in done.stderr


def post(url: str, body: bytes, answers: list[httpx.Response]) -> None:
    answers.append(httpx.post(f"{url}/invocations", content=body, timeout=STARTUP))


def running_requests(serving: Running) -> int:
    """Requests the server is receiving, queueing or transcribing (its /ping says)."""
    return int(httpx.get(f"{serving.url}/ping", timeout=30).json().get("in_flight", 0))


def test_sigterm_during_a_job_finishes_the_job_then_exits(serving: Running, data_dir: Path) -> None:
    """The signal must land while a job runs, on a fast or a loaded machine: the container is
    frozen (`podman pause`) once the job has started, the signal is queued while it is frozen,
    and a job that had already finished at the freeze is simply followed by another."""
    clip = (data_dir / "en_short.wav").read_bytes()  # seconds of work even on a loaded machine
    for _ in range(10):
        answers: list[httpx.Response] = []
        worker = threading.Thread(target=post, args=(serving.url, clip, answers))
        worker.start()
        deadline = time.monotonic() + STARTUP
        while not running_requests(serving) and time.monotonic() < deadline and not answers:
            time.sleep(0.05)
        podman("pause", serving.name)
        if not answers:
            break  # frozen mid-job
        podman("unpause", serving.name)
        worker.join()
    else:
        pytest.fail("no job was still running when the container was frozen, in 10 tries")
    podman("kill", "--signal", "TERM", serving.name)
    podman("unpause", serving.name)
    worker.join(timeout=STARTUP)
    assert answers and answers[0].status_code == 200, answers and answers[0].text
    assert "lazy dog" in answers[0].json()["text"].lower()
    exit_code = podman("wait", serving.name, timeout=STARTUP).stdout.strip()
    assert exit_code == "0", serving.logs()
    assert "Shutting down" in serving.logs()


def test_local_stack_runs_the_image_with_podman(
    built: BuiltImage, tmp_path: Path, tiny_en_dir: Path, tiny_en_pt_dir: Path, data_dir: Path
) -> None:
    from whisper_async.local import stack

    state_dir = tmp_path / "stack"
    info = stack.up(state_dir, runtime="podman")
    try:
        env = {
            **built.build_env,
            **stack.environment(state_dir),
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
        }
        rebuilt = wasync("build", "--builder", "podman", "--base-image", built.base, env=env)
        assert rebuilt.returncode == 0, rebuilt.stderr[-3000:]
        assert rebuilt.stdout.strip().splitlines()[-1] == built.tag  # same inputs, same tag

        refused = wasync("push-model", str(tiny_en_pt_dir / "tiny.en.pt"), env=env)
        assert refused.returncode == 2 and "needs the openai engine" in refused.stderr

        pushed = wasync("push-model", str(tiny_en_dir), "--name", "tiny.en", env=env)
        assert pushed.returncode == 0, pushed.stderr
        deployed = wasync("deploy", "--instance", "ml.g5.xlarge", env=env)
        assert deployed.returncode == 0, deployed.stderr + stack.log_text(state_dir)
        done = wasync(
            "transcribe", str(data_dir / "en_short.wav"), "--wait", "--timeout", "300s", env=env
        )
        assert done.returncode == 0, done.stderr
        assert "lazy dog" in done.stdout.lower()
        images = podman("ps", "--filter", "name=wasync-local-", "--format", "{{.Image}}")
        assert images.stdout.split() == [f"localhost/{built.tag}"]
    finally:
        stack.down(info.state_dir, grace=5)
    leftover = podman("ps", "-a", "--filter", "name=wasync-local-", "--format", "{{.Names}}")
    assert leftover.stdout.strip() == ""
