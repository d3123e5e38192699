"""The `wasync` console script. Ctrl-C while the CLI is still being imported (its first
tenth of a second) ends it as Ctrl-C does later, exit 130 and one word, not a traceback."""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType
from typing import NoReturn


def main() -> None:
    previous = signal.signal(signal.SIGINT, _interrupted_while_starting)
    from .app import main as run_app

    signal.signal(signal.SIGINT, previous)
    run_app()


def _interrupted_while_starting(signum: int, frame: FrameType | None) -> NoReturn:
    try:
        sys.stderr.write("interrupted\n")
        sys.stderr.flush()
    finally:
        os._exit(130)  # nothing has started yet: nothing to clean up
