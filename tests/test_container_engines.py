"""Choosing a container engine: one that answers `info`, never merely a binary on PATH."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.helpers.image_gate import skip_reason
from whisper_async.container_engines import Probe, find_engine, probe
from whisper_async.errors import UsageError, WasyncError
from whisper_async.local import containers, stack

NO_DAEMON = """#!/bin/sh
echo "Client: Docker Engine - Community"
echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2
exit 1
"""
WORKING = "#!/bin/sh\nexit 0\n"
HANGING = "#!/bin/sh\nexec /bin/sleep 30\n"


@pytest.fixture
def fake_bin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Only the fake engines are on PATH."""
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", str(folder))

    def install(name: str, script: str) -> Path:
        path = folder / name
        path.write_text(script)
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
        return path

    return install


def test_a_client_without_its_daemon_is_not_a_working_engine(fake_bin) -> None:
    fake_bin("docker", NO_DAEMON)
    found = probe("docker")
    assert found.path and not found.working
    assert "Cannot connect to the Docker daemon" in found.detail and "exit 1" in found.detail


def test_an_engine_that_hangs_is_reported_not_waited_for(fake_bin) -> None:
    fake_bin("podman", HANGING)
    found = probe("podman", timeout=0.5)
    assert not found.working and "did not answer" in found.detail


def test_the_first_working_engine_wins_over_a_broken_one_found_earlier(fake_bin) -> None:
    fake_bin("docker", NO_DAEMON)
    podman = fake_bin("podman", WORKING)
    assert find_engine(None, "build") == str(podman)


def test_a_named_engine_is_used_or_refused_never_replaced(fake_bin) -> None:
    fake_bin("docker", WORKING)
    fake_bin("podman", NO_DAEMON.replace("Docker daemon", "podman service"))
    with pytest.raises(WasyncError) as info:
        find_engine("podman", "run the serving image")
    assert "No working podman" in info.value.message and info.value.exit_code == 2  # setup
    assert "podman service" in info.value.message
    assert "`podman info` must succeed" in (info.value.hint or "")


def test_no_engine_at_all_lists_each_one_tried(fake_bin) -> None:
    with pytest.raises(WasyncError) as info:
        find_engine(None, "build the image")
    for name in ("docker", "podman", "finch"):
        assert f"{name}: not installed" in info.value.message


def test_unknown_engine_name_is_a_usage_error(fake_bin) -> None:
    with pytest.raises(UsageError):
        find_engine("lxc", "build")


def test_local_runtimes_process_needs_no_engine_and_podman_speaks_to_podman(fake_bin) -> None:
    fake_bin("docker", WORKING)
    podman = fake_bin("podman", WORKING)
    assert containers.engine_for("process") is None
    assert containers.engine_for("podman") == str(podman)
    argv = containers.run_argv(str(podman), "wasync:t", 18123, Path("/m"), {"K": "v"})
    assert argv[:2] == [str(podman), "run"] and argv[-2:] == ["wasync:t", "serve"]
    assert "127.0.0.1:18123:8080" in argv and "/m:/opt/ml/model:ro" in argv
    assert "K=v" in argv


def test_local_up_refuses_a_stopped_engine_before_starting_anything(
    fake_bin, tmp_path: Path
) -> None:
    fake_bin("docker", NO_DAEMON)
    with pytest.raises(WasyncError) as info:
        stack.up(tmp_path / "state", runtime="docker")
    assert "Cannot connect to the Docker daemon" in info.value.message
    assert not (tmp_path / "state").exists()
    with pytest.raises(UsageError):
        stack.up(tmp_path / "state", runtime="kubernetes")


def test_image_tests_skip_with_a_reason_unless_asked_for_and_an_engine_works() -> None:
    working = Probe("podman", "/usr/bin/podman", True, "working")
    broken = Probe("podman", "/usr/bin/podman", False, "`podman info` failed (exit 125): crun")
    missing = Probe("podman", None, False, "not on PATH")
    assert "make test-image" in (skip_reason({}, lambda name: working) or "")
    assert skip_reason({"WASYNC_IMAGE_TESTS": "1"}, lambda name: working) is None
    assert "exit 125" in (skip_reason({"WASYNC_IMAGE_TESTS": "1"}, lambda name: broken) or "")
    assert "not installed" in (skip_reason({"WASYNC_IMAGE_TESTS": "1"}, lambda name: missing) or "")


def test_the_gate_probes_the_real_podman_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    reason = skip_reason({"WASYNC_IMAGE_TESTS": "1"})
    found = probe("podman")
    assert (reason is None) == found.working
    assert os.environ.get("PATH")  # the real PATH, untouched by this test
