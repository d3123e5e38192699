"""Rendering: rich text for people on stderr/stdout, or one JSON document for scripts."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import enum
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.live import Live
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from rich.text import Text

from ..errors import WasyncError
from ..progress import Advance, ProgressFactory


def to_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    return value


class Output:
    """Where every command's output goes. JSON mode keeps stdout for machine-readable data."""

    def __init__(
        self,
        json_mode: bool = False,
        quiet: bool = False,
        verbose: bool = False,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
    ) -> None:
        self.json_mode = json_mode
        self.quiet = quiet
        self.verbose = verbose
        self.out = Console(file=stdout or sys.stdout, soft_wrap=True, highlight=False)
        self.err = Console(file=stderr or sys.stderr, soft_wrap=True, highlight=False)

    def result(self, data: Any, human: Callable[[Console], None] | None = None) -> None:
        """Print a command's result: JSON on stdout, or the human rendering."""
        if self.json_mode:
            self.out.file.write(json.dumps(to_jsonable(data), indent=2, sort_keys=True) + "\n")
            self.out.file.flush()
        elif human is not None:
            human(self.out)

    def write(self, text: str) -> None:
        """Raw text on stdout (a transcript), unstyled."""
        self.out.file.write(text)
        self.out.file.flush()

    def json_line(self, data: Any) -> None:
        self.out.file.write(json.dumps(to_jsonable(data), sort_keys=True) + "\n")
        self.out.file.flush()

    def info(self, message: str) -> None:
        if not self.quiet:
            self.err.print(message)

    def debug(self, message: str) -> None:
        if self.verbose:
            self.err.print(f"[dim]{message}[/dim]")

    def warn(self, message: str) -> None:
        self.err.print(f"[yellow]warning:[/yellow] {message}")

    def error(self, error: WasyncError) -> None:
        # Text, not markup: messages hold user text and extras such as `wasync[local]`
        self.err.print(Text.assemble(("error:", "red"), " ", error.message))
        if error.hint:
            self.err.print(Text(f"hint: {error.hint}", style="dim"))

    def transfer_progress(self) -> Progress:
        """A byte-counting progress bar on stderr, silent under --quiet."""
        return Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=self.err,
            disable=self.quiet,
            transient=True,
        )

    @contextlib.contextmanager
    def live_line(self) -> Iterator[Callable[[str], None]]:
        """A one-line live display on stderr (a no-op under --quiet); yields `update(text)`."""
        if self.quiet:
            yield lambda text: None
            return
        with Live(Text(""), console=self.err, transient=True, refresh_per_second=4) as live:
            yield lambda text: live.update(Text(text))

    def table(
        self, title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> None:
        table = Table(title=title, show_header=True, header_style="bold")
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*("" if v is None else str(v) for v in row))
        self.out.print(table)

    def key_values(self, pairs: Iterable[tuple[str, Any]]) -> None:
        table = Table(show_header=False, box=None, pad_edge=False)
        table.add_column(style="bold")
        table.add_column()
        for key, value in pairs:
            table.add_row(key, "" if value is None else str(value))
        self.out.print(table)


def rich_progress_factory(progress: Progress) -> ProgressFactory:
    """Adapt a rich Progress to the capabilities' ProgressFactory."""

    def factory(description: str, total: int | None) -> Advance:
        task = progress.add_task(description, total=total)
        return lambda amount: progress.advance(task, amount)

    return factory
