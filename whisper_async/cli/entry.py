"""The `wasync` console script. Ctrl-C before a command starts (the CLI's import, its first
tenth of a second, and option parsing) ends it as Ctrl-C does later: cli/starting.py."""

from __future__ import annotations

from .starting import hold_interrupts


def main() -> None:
    hold_interrupts()
    from .app import main as run_app

    run_app()
