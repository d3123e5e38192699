"""Progress reporting as a plain callable, so capabilities never touch the terminal.

A `ProgressFactory` is called with a description and a total (bytes or items) and returns
a function to call with each increment. The CLI passes one backed by rich; tests pass none.
"""

from __future__ import annotations

from collections.abc import Callable

Advance = Callable[[int], None]
ProgressFactory = Callable[[str, int | None], Advance]


def no_progress(description: str, total: int | None) -> Advance:
    return lambda amount: None
