"""What every command gets: resolved settings, the AWS clients and the output, built once."""

from __future__ import annotations

import errno
import functools
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from ..errors import ExitCode, WasyncError
from .render import Output, exit_code, shown
from .starting import command_started

if TYPE_CHECKING:  # imported when first used: start-up stays fast
    from ..clients import Clients
    from ..settings import Settings


@dataclass(frozen=True)
class GlobalOptions:
    """The options every command accepts, before or after the command's name."""

    region: str | None = None
    aws_profile: str | None = None
    endpoint: str | None = None
    bucket: str | None = None
    prefix: str | None = None
    role: str | None = None
    image: str | None = None
    local: bool = False
    config: Path | None = None
    json_output: bool = False
    quiet: bool = False
    verbose: bool = False
    debug: bool = False

    def merged(self, later: Mapping[str, Any]) -> GlobalOptions:
        """These options overridden by those given again after the command."""
        given = {k: v for k, v in later.items() if v is not None and v is not False}
        return replace(self, **given)

    @property
    def flags(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "aws_profile": self.aws_profile,
            "endpoint": self.endpoint,
            "bucket": self.bucket,
            "prefix": self.prefix,
            "role_arn": self.role,
            "image_uri": self.image,
            "profile": "local" if self.local else None,
        }


GLOBAL_OPTION_NAMES = frozenset(f.name for f in fields(GlobalOptions))


@dataclass
class AppContext:
    options: GlobalOptions = field(default_factory=GlobalOptions)
    _output: Output | None = field(default=None, repr=False)
    _settings: Settings | None = field(default=None, repr=False)
    _clients: Clients | None = field(default=None, repr=False)

    def apply(self, later: Mapping[str, Any]) -> None:
        """Global options given after the command (`wasync status --json`)."""
        self.options = self.options.merged(later)
        self._output = self._settings = self._clients = None

    @property
    def debug(self) -> bool:
        return self.options.debug

    @property
    def output(self) -> Output:
        if self._output is None:
            o = self.options
            self._output = Output(json_mode=o.json_output, quiet=o.quiet, verbose=o.verbose)
        return self._output

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from ..settings import resolve

            self._settings = resolve(self.options.flags, config_path=self.options.config)
        return self._settings

    @property
    def clients(self) -> Clients:
        if self._clients is None:
            from ..clients import Clients

            settings = self.settings
            self.output.debug(
                f"profile {settings.profile}, region {settings.region or '(from the AWS profile)'}, "
                f"endpoint {settings.endpoint}"
            )
            self._clients = Clients(settings)
            if settings.is_local:
                self._warn_of_stale_exports(settings)
        return self._clients

    def _warn_of_stale_exports(self, settings: Settings) -> None:
        from ..settings import read_stack, stale_exports

        stack = read_stack(settings.state_dir)
        stale = stale_exports(stack) if stack else []
        if stale:
            names = (
                f"{stale[0]} and {len(stale) - 1} more point" if stale[1:] else f"{stale[0]} points"
            )
            self.output.warn(
                f"{names} at another stack than the one running: wasync uses "
                "this one, but the AWS CLI and boto3 scripts will not reach it; run "
                'eval "$(wasync local env)" again'
            )


def current(ctx: typer.Context) -> AppContext:
    obj = ctx.find_object(AppContext)
    if obj is None:  # a command invoked without the app's callback (only in odd embeddings)
        obj = AppContext()
        ctx.obj = obj
    return obj


def finish(result: object, waiting: bool = True) -> None:
    """End a command with the exit code its result calls for (nothing to do for 0)."""
    code = exit_code(result, waiting)
    if code != ExitCode.OK:
        raise typer.Exit(int(code))


def _is_cli_exception(exc: BaseException) -> bool:
    # Typer's usage errors and exits pass through untouched (it vendors click in newer versions).
    return any(cls.__name__ in {"ClickException", "Exit", "Abort"} for cls in type(exc).__mro__)


F = TypeVar("F", bound=Callable[..., Any])

# What an interrupted command leaves going: AWS goes on with the calls already made.
_CHANGES_GO_ON = "what was already asked of AWS goes on; `wasync status` shows where it stands"
INTERRUPTED_HINTS = {
    "deploy": _CHANGES_GO_ON,
    "autoscale": _CHANGES_GO_ON,
    "delete": _CHANGES_GO_ON,
    # waiting changes nothing: the job runs on, and its result stays in S3
    "fetch": "the job goes on; run the same fetch again to collect its result",
}


def _check_output_written(app: AppContext, code: int) -> None:
    """Output that stdout refused (`> /dev/full`, a disk that filled) is an error, never a
    silent exit 0: a script would go on as if it had the transcript."""
    failure = app.output.stdout_failure
    if failure is None:
        return
    closed = failure.errno == errno.EBADF
    app.output.error(
        WasyncError(
            f"Could not write to stdout: {failure.strerror or failure}; the output is lost.",
            ("run it with stdout open (not `>&-`)" if closed else "free space where stdout goes")
            + ", or write to a file with -o where the command has it",
        )
    )
    if code == 0:
        raise typer.Exit(int(ExitCode.FAILURE))


def handled(fn: F) -> F:
    """Turn every error into one red line and an exit code; a traceback only under --debug.

    The command must take `ctx: typer.Context` as a keyword parameter.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        command_started()
        app = current(kwargs["ctx"])
        try:
            result = guarded(app, *args, **kwargs)
        except Exception as exc:
            if _is_cli_exception(exc):
                _check_output_written(app, getattr(exc, "exit_code", 1))
            raise
        _check_output_written(app, 0)
        return result

    def guarded(app: AppContext, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except KeyboardInterrupt:
            hint = INTERRUPTED_HINTS.get(fn.__name__)
            app.output.err.print(
                f"interrupted; {hint}" if hint else "interrupted", style="yellow", markup=False
            )
            raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
        except Exception as exc:
            # Output drops what a closed stdout or stderr cannot take (`| head`); a
            # BrokenPipeError from elsewhere is click's: exit 1, nothing printed at exit
            if _is_cli_exception(exc) or isinstance(exc, BrokenPipeError):
                raise
            from ..aws import translate

            error = translate(exc)
            if app.debug:
                # a traceback quotes endpoint URLs whole, with any password in them
                app.output.err.print(shown(traceback.format_exc()), markup=False)
            if error is None:
                error = WasyncError(
                    f"unexpected {type(exc).__name__}: {exc}",
                    "re-run with --debug for the traceback, and report it if it persists",
                )
            app.output.error(error)
            raise typer.Exit(int(error.exit_code)) from None

    return wrapper  # type: ignore[return-value]
