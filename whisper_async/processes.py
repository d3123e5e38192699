"""Whether a process on this machine is still running (the stack's daemon, a batch's owner),
and what it was started as."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def pid_alive(pid: int) -> bool:
    """True while `pid` runs, also when it belongs to another user (kill answers EPERM)."""
    if pid <= 0:  # kill(0) and kill(-N) signal whole process groups: never a liveness check
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # OverflowError: no pid is that large
        return False
    except PermissionError:
        return True
    return True


def command_line(pid: int) -> str | None:
    """The command line `pid` was started with, its arguments joined by spaces; "" when no
    such process runs, None where it cannot be read."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        return raw.rstrip(b"\0").replace(b"\0", b" ").decode(errors="replace")
    except FileNotFoundError:
        if Path("/proc/self").exists():
            return ""  # Linux, and the process is gone
    except OSError:
        return None
    try:  # macOS and the BSDs: no /proc
        shown = subprocess.run(
            ["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return shown.stdout.strip() if shown.returncode == 0 else ""
