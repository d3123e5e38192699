"""Whether a process on this machine is still running (the stack's daemon, a batch's owner)."""

from __future__ import annotations

import os


def pid_alive(pid: int) -> bool:
    """True while `pid` runs, also when it belongs to another user (kill answers EPERM)."""
    if pid <= 0:  # kill(0) and kill(-N) signal whole process groups: never a liveness check
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
