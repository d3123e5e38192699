"""`wasync local up` stopped part way: a port another program holds (refused at once, not
after the start-up timeout with a daemon left hanging: moto's server thread failed to bind and
its start() waited for ever), and Ctrl-C while the stack starts (the daemon is stopped too)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from whisper_async.errors import UsageError
from whisper_async.local import stack
from whisper_async.local.profile import STACK_FILE


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


def test_a_port_out_of_range_is_a_usage_error(tmp_path: Path) -> None:
    for port in (65535, -5, 70000):  # "unexpected OverflowError", exit 1
        with pytest.raises(UsageError, match=f"--port {port} is not a port"):
            stack.up(tmp_path / "state", port=port)


def test_a_state_dir_that_cannot_be_a_folder_is_a_usage_error(tmp_path: Path) -> None:
    """It was "unexpected FileExistsError", exit 1."""
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="is a file, not a folder"):
        stack.up(tmp_path / "file")
    with pytest.raises(UsageError, match="cannot make the stack's folder"):
        stack.up(tmp_path / "file" / "below")


def test_a_port_whose_connections_wait_out_time_wait_is_free(tmp_path: Path) -> None:
    """A stack stopped a moment ago leaves its ports in TIME_WAIT; servers bind them anyway
    (SO_REUSEADDR), so the check must not call them taken."""
    from whisper_async.local.runtime import ports_taken

    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = int(server.getsockname()[1])
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = server.accept()
        accepted.close()  # the server's side closes first: its port waits in TIME_WAIT
        client.close()
    assert ports_taken(port) is None


def test_the_daemon_given_a_port_in_use_exits_and_says_why(busy_port: int, tmp_path: Path) -> None:
    """Another program can take the port between `up`'s check and the daemon's start."""
    argv = [sys.executable, "-m", stack.DAEMON_MODULE, "--state-dir", str(tmp_path)]
    done = subprocess.run(
        [*argv, "--port", str(busy_port)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 1
    assert str(busy_port) in done.stdout + done.stderr
    assert "in use by another program" in done.stdout + done.stderr


def daemons_of(state_dir: Path) -> list[int]:
    """Pids of the stack daemons started for `state_dir` that are still alive."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if stack.DAEMON_MODULE.encode() in argv and str(state_dir).encode() in argv:
            found.append(int(entry.name))
    return found


def test_ctrl_c_while_the_stack_starts_stops_its_daemon(tmp_path: Path) -> None:
    """The daemon runs in its own session, so Ctrl-C reached only the CLI: it said
    "interrupted" (exit 130) while the stack went on starting, and the next `up` was refused."""
    state = tmp_path / "state"
    argv = [sys.executable, "-m", "whisper_async", "local", "up", "--state-dir", str(state)]
    cli = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        while not daemons_of(state) and cli.poll() is None:
            time.sleep(0.05)  # until the daemon is started
        os.kill(cli.pid, signal.SIGINT)
        _, stderr = cli.communicate(timeout=120)
    finally:
        if cli.poll() is None:
            cli.kill()
    assert cli.returncode == 130, stderr
    assert daemons_of(state) == []
    assert not (state / STACK_FILE).exists()
