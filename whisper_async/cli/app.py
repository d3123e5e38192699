"""The `wasync` command line: parse options, call a capability module, render its result."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .. import __version__
from ..settings import FIELDS
from .context import AppContext, current, handled
from .render import Output

app = typer.Typer(
    name="wasync",
    help="Whisper on SageMaker Asynchronous Inference: build, deploy, scale to zero, transcribe.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
config_app = typer.Typer(help="Show the resolved configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")


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
    debug: Annotated[bool, typer.Option(help="Show tracebacks")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version")
    ] = False,
) -> None:
    flags = {
        "region": region,
        "aws_profile": aws_profile,
        "endpoint": endpoint,
        "bucket": bucket,
        "prefix": prefix,
        "role_arn": role,
        "image_uri": image,
        "profile": "local" if local else None,
    }
    ctx.obj = AppContext(
        flags=flags,
        config_path=config,
        output=Output(json_mode=json_output, quiet=quiet, verbose=verbose),
        debug=debug,
    )


@config_app.command("show")
@handled
def config_show(ctx: typer.Context) -> None:
    """Print every setting with where its value came from (flag, env, file or default)."""
    app_ctx = current(ctx)
    settings = app_ctx.settings
    rows = [(name, getattr(settings, name), settings.sources.get(name, "")) for name in FIELDS]
    rows += [(f"endpoint_url.{k}", v, "") for k, v in sorted(settings.endpoint_urls.items())]
    data = {name: {"value": value, "source": source} for name, value, source in rows}
    app_ctx.output.result(
        data, lambda _: app_ctx.output.table(None, ["setting", "value", "source"], rows)
    )


def main() -> None:
    app()


from . import commands  # noqa: E402,F401 - registers the subcommands on `app`
