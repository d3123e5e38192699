"""What every command gets: resolved settings, the AWS clients and the output, built once."""

from __future__ import annotations

import functools
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import typer

from ..clients import Clients
from ..errors import WasyncError, translate
from ..settings import Settings, resolve
from .render import Output


@dataclass
class AppContext:
    flags: dict[str, Any]
    config_path: Path | None
    output: Output
    debug: bool = False
    _settings: Settings | None = field(default=None, repr=False)
    _clients: Clients | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = resolve(self.flags, config_path=self.config_path)
        return self._settings

    @property
    def clients(self) -> Clients:
        if self._clients is None:
            self._clients = Clients(self.settings)
        return self._clients


def current(ctx: typer.Context) -> AppContext:
    obj = ctx.find_object(AppContext)
    if obj is None:  # a command invoked without the app's callback (only in odd embeddings)
        obj = AppContext(flags={}, config_path=None, output=Output())
    return obj


def _is_cli_exception(exc: BaseException) -> bool:
    # Typer's usage errors and exits pass through untouched (it vendors click in newer versions).
    return any(cls.__name__ in {"ClickException", "Exit", "Abort"} for cls in type(exc).__mro__)


F = TypeVar("F", bound=Callable[..., Any])


def handled(fn: F) -> F:
    """Turn every error into one red line and an exit code; a traceback only under --debug.

    The command must take `ctx: typer.Context` as a keyword parameter.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        app = current(kwargs["ctx"])
        try:
            return fn(*args, **kwargs)
        except KeyboardInterrupt:
            app.output.err.print("[yellow]interrupted[/yellow]")
            raise typer.Exit(130) from None
        except Exception as exc:
            if _is_cli_exception(exc):
                raise
            error = translate(exc)
            if app.debug:
                app.output.err.print(traceback.format_exc(), markup=False)
            if error is None:
                error = WasyncError(
                    f"unexpected {type(exc).__name__}: {exc}",
                    "re-run with --debug for the traceback, and report it if it persists",
                )
            app.output.error(error)
            raise typer.Exit(int(error.exit_code)) from None

    return wrapper  # type: ignore[return-value]
