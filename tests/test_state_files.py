"""Files wasync keeps between commands, met the way they are in the wild: left behind by a
process that died, or written by two commands at once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from whisper_async.cli.app import app
from whisper_async.processes import pid_alive
from whisper_async.settings import Settings
from whisper_async.state import recall


@pytest.mark.parametrize("stranger_is", ["any-process", "another-stacks-daemon"])
def test_local_down_leaves_a_process_that_took_a_dead_stacks_pid_alone(
    tmp_path: Path, stranger_is: str
) -> None:
    """A daemon killed by kill -9 or the OOM killer leaves stack.json behind; its pid may then
    belong to anything, after a reboot even to the daemon of a stack whose state dir starts
    with this one's name."""
    argv = [sys.executable, "-c", "import time; time.sleep(600)"]
    if stranger_is == "another-stacks-daemon":  # its command line, as the process shows it
        argv += ["-m", "whisper_async.local.daemon", "--state-dir", f"{tmp_path}-b"]
    stranger = subprocess.Popen(argv)
    try:
        (tmp_path / "stack.json").write_text(
            json.dumps(
                {"pid": stranger.pid, "moto_url": "http://127.0.0.1:1", "sagemaker_url": "x"}
            )
        )
        result = CliRunner().invoke(app, ["local", "down", "--state-dir", str(tmp_path)])
        assert result.exit_code == 0, result.output
        assert "stopped" not in result.output.replace("not running", "")
        assert stranger.poll() is None and pid_alive(stranger.pid)
        assert not (tmp_path / "stack.json").exists()  # stale: removed
    finally:
        stranger.kill()
        stranger.wait()


REMEMBER = """
import sys
from pathlib import Path
from whisper_async.settings import Settings
from whisper_async.state import remember
settings = Settings(state_dir=Path(sys.argv[1]))
for n in range(150):
    remember(settings, "eu-west-1", sys.argv[2], f"v{n}")
"""


def test_two_commands_remembering_at_once_keep_both_values(tmp_path: Path) -> None:
    """`build` and `push-model` finishing together: each reads, changes and writes the file."""
    writers = [
        subprocess.Popen([sys.executable, "-c", REMEMBER, str(tmp_path), key])
        for key in ("model_uri", "image_uri")
    ]
    assert [writer.wait(timeout=600) for writer in writers] == [0, 0]
    settings = Settings(state_dir=tmp_path)
    assert recall(settings, "eu-west-1", "model_uri") == "v149"
    assert recall(settings, "eu-west-1", "image_uri") == "v149"
