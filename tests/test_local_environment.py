"""Serving processes start with a clean environment: a model's Environment cannot make them
run code from the model archive (issue 12: PYTHONPATH plus a sitecustomize.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from whisper_async.local.environment import serving_environment
from whisper_async.local.runtime import start_container

SITE = f"python{sys.version_info.major}.{sys.version_info.minor}"


def planted(model_dir: Path, marker: Path) -> dict[str, str]:
    """Code that writes `marker` if Python runs it at start-up, and the variables that would
    make it run: PYTHONPATH to a sitecustomize.py, HOME to a user site-packages .pth file."""
    payload = f"open({str(marker)!r}, 'w').write('ran')\n"
    (model_dir / "sitecustomize.py").write_text(payload)
    user_site = model_dir / ".local" / "lib" / SITE / "site-packages"
    user_site.mkdir(parents=True)
    (user_site / "evil.pth").write_text(f"import os; {payload}")
    return {"PYTHONPATH": str(model_dir), "HOME": str(model_dir), "PYTHONSTARTUP": "x"}


@pytest.mark.parametrize("variable", ["PYTHONPATH", "HOME"])
def test_a_model_cannot_run_code_at_the_serving_process_start(
    tmp_path: Path, variable: str
) -> None:
    model_dir = tmp_path / "store" / "model"
    model_dir.mkdir(parents=True)
    marker = tmp_path / "marker"
    attack = planted(model_dir, marker)
    lines: list[str] = []
    container = start_container(
        "process", "", model_dir, {variable: attack[variable]}, tmp_path / "log", lines.append
    )
    try:
        # An empty model folder: the server starts, fails to load, and says so on /ping.
        reason = container.wait_healthy(300)
        assert reason is not None and "model load failed" in reason
    finally:
        container.stop(grace=5)
    assert not marker.exists()
    assert any(f"ignored {variable}" in line for line in lines)


def test_the_environment_holds_the_models_variables_and_nothing_of_the_host(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOST_SECRET_CANARY", "do-not-leak")
    model_dir = tmp_path / "abc" / "model"
    environment, dropped = serving_environment(
        {
            "WASYNC_MAX_CONCURRENCY": "2",
            "OMP_NUM_THREADS": "3",
            "PYTHONPATH": "/x",
            "LD_PRELOAD": "/x.so",
            "DYLD_INSERT_LIBRARIES": "/x",
            "GCONV_PATH": "/x",
            "PATH": "/x",
            "CUDA_INJECTION64_PATH": "/x.so",
            "OMP_TOOL_LIBRARIES": "/x.so",
            "WASYNC_TMP_DIR": "/x",
            "INTEL_LIBITTNOTIFY64": "./moto_recording",  # oneDNN loads the library it names
            "ONEDNN_JIT_DUMP": "1",  # writes files into the working folder
            "WASYNC_LOG_LEVEL": "INFO\0",  # no process starts with a NUL in its environment
        },
        model_dir,
    )
    assert dropped == [
        "CUDA_INJECTION64_PATH",
        "DYLD_INSERT_LIBRARIES",
        "GCONV_PATH",
        "INTEL_LIBITTNOTIFY64",
        "LD_PRELOAD",
        "OMP_TOOL_LIBRARIES",
        "ONEDNN_JIT_DUMP",
        "PATH",
        "PYTHONPATH",
        "WASYNC_LOG_LEVEL",
        "WASYNC_TMP_DIR",
    ]
    assert "HOST_SECRET_CANARY" not in environment
    assert environment["WASYNC_MAX_CONCURRENCY"] == "2" and environment["OMP_NUM_THREADS"] == "3"
    assert environment["WASYNC_MODEL_DIR"] == str(model_dir)
    assert environment["HOME"] == str(tmp_path / "abc" / "home")
    # request bodies go beside the model, and are removed with it, whatever stops the process
    scratch = tmp_path / "abc" / "home" / "tmp"
    assert environment["TMPDIR"] == environment["WASYNC_TMP_DIR"] == str(scratch)
    assert scratch.is_dir()
    assert "/x" not in environment["PATH"].split(":")
    assert not any(name.startswith(("LD_", "DYLD_")) for name in environment)
    assert set(environment) - {"WASYNC_MAX_CONCURRENCY", "OMP_NUM_THREADS"} == {
        "PATH",
        "HOME",
        "XDG_CACHE_HOME",
        "TMPDIR",
        "WASYNC_TMP_DIR",
        "LANG",
        "WASYNC_MODEL_DIR",
    }
