"""Ctrl-C before a command's own code runs: while the CLI is imported and while its options
are parsed. It ends the way Ctrl-C does later, exit 130 and one word, not a traceback (import)
nor silence (Click's parsing turns KeyboardInterrupt into a bare exit)."""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType
from typing import NoReturn


def hold_interrupts() -> None:
    """From the console script's first line until a command starts (`command_started`)."""
    signal.signal(signal.SIGINT, _interrupted_while_starting)


def command_started() -> None:
    """A command's own handling takes Ctrl-C from here (KeyboardInterrupt, its hint)."""
    if signal.getsignal(signal.SIGINT) is _interrupted_while_starting:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _interrupted_while_starting(signum: int, frame: FrameType | None) -> NoReturn:
    try:
        sys.stderr.write("interrupted\n")
        sys.stderr.flush()
    finally:
        os._exit(130)  # nothing has started yet: nothing to clean up
