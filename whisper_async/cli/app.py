"""The `wasync` command line: global options, and the explicit list of commands.

Commands are plain functions in `commands.py`, `job_commands.py` and `local_commands.py`; this
module registers them (no registration by side-effect imports, so `cli/` has no import
cycle). Global options are accepted before the command and after it, as users of the AWS CLI
and gh expect: `wasync status --region eu-west-1`, `wasync transcribe a.mp3 --json`.
"""

import contextlib
import copy
import json
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperCommand, TyperGroup

from .. import __version__
from . import commands, job_commands, local_commands
from .context import GLOBAL_OPTION_NAMES, AppContext, GlobalOptions, current, handled

_AFTER = "wasync_after_"  # the name a global option takes when it follows the command


def _accept_global_options(command: Any, shared: list[Any]) -> None:
    """Give a command (every command of a group) hidden copies of the global options, and
    hand their values to the AppContext before the command runs."""
    if hasattr(command, "commands"):
        for sub in command.commands.values():
            _accept_global_options(sub, shared)
        return
    if any(p.name.startswith(_AFTER) for p in command.params):
        return
    for option in shared:
        clone = copy.copy(option)
        clone.name = _AFTER + option.name
        clone.hidden = True
        command.params.append(clone)
    run = command.invoke

    def invoke(ctx: Any) -> Any:
        later = {
            name[len(_AFTER) :]: ctx.params.pop(name)
            for name in list(ctx.params)
            if name.startswith(_AFTER)
        }
        current(ctx).apply(later)
        return run(ctx)

    command.invoke = invoke


class GlobalOptionsGroup(TyperGroup):
    """The top-level group: its global options also work after any command."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        shared = [p for p in self.params if p.name in GLOBAL_OPTION_NAMES]
        for command in self.commands.values():
            _accept_global_options(command, shared)

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        # `--version` is eager, so it answered before `--json` was read, in text.
        options = args[: args.index("--")] if "--" in args else args
        if "--version" in options and "--json" in options:
            typer.echo(json.dumps({"version": __version__}))
            ctx.exit()
        return super().parse_args(ctx, args)


class DashNamedFiles(TyperCommand):
    """A command whose error about an unknown option says so when that "option" is a file
    (`wasync transcribe -rf.wav`: click read it as -r, and said only `No such option: -r`)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        given = list(args)  # click's parser consumes the list it is given
        try:
            return super().parse_args(ctx, args)
        except Exception as exc:  # click's NoSuchOption (typer vendors click in newer versions)
            name = getattr(exc, "option_name", None)
            if type(exc).__name__ == "NoSuchOption" and name:
                named = [a for a in given if a.startswith(name) and Path(a).exists()]
                if named:
                    exc.message = (  # type: ignore[attr-defined]  # click's message, extended
                        f"{exc.message}. {named[0]!r} is a file: name it as ./{named[0]}, "  # type: ignore[attr-defined]
                        f"or after --, which ends the options (`{ctx.command_path} [OPTIONS] -- "
                        f"{named[0]}`)"
                    )
            raise


app = typer.Typer(
    name="wasync",
    cls=GlobalOptionsGroup,
    help="Whisper on SageMaker Asynchronous Inference: build, deploy, scale to zero, transcribe. "
    "Global options may come before or after the command.",
    epilog="Exit codes: 0 ok; 1 failure (including any failed job); 2 usage or configuration "
    "error; 3 not finished (a wait timed out, or fetch of a job still pending); 130 "
    "interrupted (re-run the same command to collect the results).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"wasync {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    region: Annotated[str | None, typer.Option(help="AWS region [env WASYNC_REGION]")] = None,
    aws_profile: Annotated[
        str | None, typer.Option(help="AWS profile [env WASYNC_AWS_PROFILE]")
    ] = None,
    endpoint: Annotated[
        str | None, typer.Option("--endpoint", "-e", help="Endpoint name [default: whisper]")
    ] = None,
    bucket: Annotated[
        str | None, typer.Option(help="S3 bucket [default: sagemaker-{region}-{account}]")
    ] = None,
    prefix: Annotated[str | None, typer.Option(help="S3 key prefix [default: wasync/]")] = None,
    role: Annotated[str | None, typer.Option(help="SageMaker execution role ARN")] = None,
    image: Annotated[str | None, typer.Option(help="Serving image URI")] = None,
    local: Annotated[
        bool, typer.Option("--local", help="Use the local stack (same as WASYNC_PROFILE=local)")
    ] = False,
    config: Annotated[
        Path | None, typer.Option(help="Config file [default: ~/.config/wasync/config.toml]")
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Machine-readable JSON on stdout; messages on stderr")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors and results")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="More detail")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version")
    ] = False,
) -> None:
    ctx.obj = AppContext(
        GlobalOptions(
            region=region,
            aws_profile=aws_profile,
            endpoint=endpoint,
            bucket=bucket,
            prefix=prefix,
            role=role,
            image=image,
            local=local,
            config=config,
            json_output=json_output,
            quiet=quiet,
            verbose=verbose,
            debug=debug,
        )
    )


# (name, function, summary): the summary is the line `--help` lists, short enough for 80
# columns; Click would cut the docstring's first sentence off with "..." instead.
Command = tuple[str, Callable[..., Any], str]

COMMANDS: tuple[Command, ...] = (
    ("build", commands.build, "Build the serving image and push it to ECR."),
    ("push-model", commands.push_model, "Package Whisper weights and upload them to S3."),
    ("deploy", commands.deploy, "Create or update the endpoint; wait until InService."),
    ("autoscale", commands.autoscale, "Scale to zero when idle, out from zero on work."),
    ("transcribe", job_commands.transcribe, "Queue audio; with --wait, write transcripts."),
    ("fetch", job_commands.fetch, "Get a job's result, from any machine."),
    ("jobs", job_commands.jobs, "List recent jobs with their state."),
    ("status", commands.status, "The endpoint's state, instances and autoscaling."),
    ("logs", commands.logs, "Print the endpoint's CloudWatch logs."),
    ("delete", commands.delete, "Delete the endpoint and what wasync made for it."),
    ("iam", commands.iam, "Print least-privilege policies; --create the role."),
)
CONFIG_COMMANDS: tuple[Command, ...] = (
    ("show", commands.config_show, "Print every setting and where it came from."),
)
LOCAL_COMMANDS: tuple[Command, ...] = (
    ("up", local_commands.local_up, "Start the stack in the background."),
    ("down", local_commands.local_down, "Stop the stack; name the jobs it did not finish."),
    ("status", local_commands.local_status, "The stack's services, endpoints and queues."),
    ("env", local_commands.local_env, "Print export lines that point tools at the stack."),
    ("logs", local_commands.local_logs, "Show the stack's log and its containers' logs."),
)


def _register(target: typer.Typer, entries: tuple[Command, ...]) -> None:
    for name, function, summary in entries:
        target.command(name, short_help=summary, cls=DashNamedFiles)(handled(function))


_register(app, COMMANDS)
for group_name, group_help, entries in (
    ("local", "The offline stack: the whole lifecycle on 127.0.0.1.", LOCAL_COMMANDS),
    ("config", "Show the resolved configuration.", CONFIG_COMMANDS),
):
    group = typer.Typer(help=group_help, no_args_is_help=True)
    _register(group, entries)
    app.add_typer(group, name=group_name)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    # SIGTERM (timeout, docker stop, systemd, a cancelled CI job) stops the way Ctrl-C does: the
    # batch's counts and what to re-run, exit 130; by default Python would die without a word.
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupt)
    if sys.stdout is None:  # started with `>&-`: click would print --help to nowhere, exit 0
        from .render import ClosedStdout

        sys.stdout = ClosedStdout()
    try:
        app()
    except OSError as exc:  # click's own output (--help, --version): commands handle theirs
        _stdout_refused(exc)


def _stdout_refused(exc: OSError) -> NoReturn:
    """`wasync --help > /dev/full`: one line and exit 1, not a traceback (twice, as the
    interpreter's flush at exit fails again)."""
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
    with contextlib.suppress(OSError):
        sys.stderr.write(f"error: Could not write to stdout: {exc.strerror or exc}\n")
    sys.exit(1)
