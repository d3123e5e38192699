"""`wasync local up --port P` where P (or P+1) belongs to another program: refused at once, not
after the start-up timeout with a daemon left hanging (moto's server thread failed to bind and
its start() waited for ever)."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from whisper_async.errors import UsageError
from whisper_async.local import stack


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_up_refuses_a_port_in_use_before_starting_anything(busy_port: int, tmp_path: Path) -> None:
    for port in (busy_port, busy_port - 1):  # moto's port, then the emulator's (port + 1)
        with pytest.raises(UsageError) as refused:
            stack.up(tmp_path / "state", port=port)
        message = refused.value.message
        assert f"--port {port}: " in message and str(busy_port) in message and "in use" in message
        assert "another --port" in (refused.value.hint or "")
        assert not (tmp_path / "state" / stack.LOG_FILE).exists()


def test_the_daemon_given_a_port_in_use_exits_and_says_why(busy_port: int, tmp_path: Path) -> None:
    """Another program can take the port between `up`'s check and the daemon's start."""
    argv = [sys.executable, "-m", stack.DAEMON_MODULE, "--state-dir", str(tmp_path)]
    done = subprocess.run(
        [*argv, "--port", str(busy_port)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 1
    assert str(busy_port) in done.stdout + done.stderr
    assert "in use by another program" in done.stdout + done.stderr
