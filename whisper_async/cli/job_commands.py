"""The everyday commands: transcribe, fetch and jobs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Group
from rich.live import Live
from rich.table import Table

from .app import app
from .context import current, handled

STATE_STYLE = {
    "uploading": "cyan",
    "queued": "yellow",
    "done": "green",
    "failed": "red",
    "pending": "magenta",
}


def _table(outcomes: list) -> Table:
    table = Table(show_header=True, header_style="bold", box=None)
    for column in ("file", "state", "job", "result"):
        table.add_column(column)
    for outcome in outcomes:
        if outcome is None:
            continue
        style = STATE_STYLE.get(outcome.state, "")
        table.add_row(
            outcome.input,
            f"[{style}]{outcome.state}[/{style}]",
            outcome.id or "",
            outcome.error or outcome.output or "",
        )
    return table


@app.command()
@handled
def transcribe(
    ctx: typer.Context,
    inputs: Annotated[
        list[str],
        typer.Argument(help="Files, folders, globs, s3:// URIs, or - to read paths from stdin"),
    ],
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait for the results")] = False,
    output_dir: Annotated[
        Path | None,
        typer.Option(
            "--output-dir", "-o", help="Where transcripts go [default: next to each input]"
        ),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="txt, json, srt, vtt or tsv")] = "txt",
    language: Annotated[
        str | None, typer.Option(help="Language code, e.g. en, de, ja [default: detect]")
    ] = None,
    task: Annotated[str, typer.Option(help="transcribe, or translate to English")] = "transcribe",
    word_timestamps: Annotated[
        bool, typer.Option("--word-timestamps", help="Word-level timings")
    ] = False,
    vad: Annotated[
        bool,
        typer.Option(
            "--vad",
            help="Skip silence with voice activity detection (batched decoding always does)",
        ),
    ] = False,
    initial_prompt: Annotated[
        str | None, typer.Option(help="Text to prime the decoder (names, jargon)")
    ] = None,
    beam_size: Annotated[
        int | None, typer.Option(help="Beam size [default: the endpoint's]")
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            help="Voice chunks decoded side by side; 1 decodes 30 s windows in sequence "
            "[default: the endpoint's]"
        ),
    ] = None,
    concurrency: Annotated[int, typer.Option(help="Files in flight at once")] = 8,
    timeout: Annotated[str, typer.Option(help="Longest wait for results, e.g. 30m, 1h")] = "1h",
    overwrite: Annotated[bool, typer.Option(help="Replace existing transcripts")] = False,
    inline: Annotated[
        bool,
        typer.Option("--inline/--no-inline", help="Send files up to 128,000 bytes in the request"),
    ] = True,
    request_ttl: Annotated[
        str, typer.Option(help="Drop a request still queued after this long")
    ] = "6h",
    notify_queue: Annotated[
        str | None,
        typer.Option(
            help="SQS queue URL subscribed to the endpoint's SNS topics: wait on it instead of polling S3"
        ),
    ] = None,
) -> None:
    """Upload audio, queue it on the async endpoint and (with --wait) write the transcripts."""
    from ..inputs import expand
    from ..jobs import JobRunner, TranscribeRequest
    from ..jobs import transcribe as run_transcribe
    from ..logs import parse_duration
    from .render import rich_progress_factory

    app_ctx = current(ctx)
    out = app_ctx.output
    stdin_lines = sys.stdin if "-" in inputs else []
    items = expand(inputs, stdin_lines)
    options = {
        "language": language,
        "task": task,
        "word_timestamps": word_timestamps or None,
        "vad_filter": vad or None,
        "initial_prompt": initial_prompt,
        "beam_size": beam_size,
        "batch_size": batch_size,
    }
    options = {k: v for k, v in options.items() if v is not None}
    if task == "transcribe":
        options.pop("task", None)
    request = TranscribeRequest(
        inputs=items,
        options=options,
        fmt=fmt,
        output_dir=output_dir,
        overwrite=overwrite,
        wait=wait,
        timeout=parse_duration(timeout),
        concurrency=concurrency,
        inline=inline,
        request_ttl=parse_duration(request_ttl),
    )
    runner = JobRunner(app_ctx.clients)
    if notify_queue:
        from ..notifications import NotificationWatcher

        runner.notifications = NotificationWatcher(app_ctx.clients, notify_queue)
    note = runner.precheck()
    if note:
        out.warn(note)
    outcomes: list = [None] * len(items)
    show_table = not out.quiet and not out.json_mode and len(items) > 1
    with (
        out.transfer_progress() as bar,
        Live(
            Group(bar, _table(outcomes)),
            console=out.err,
            transient=True,
            refresh_per_second=4,
            auto_refresh=show_table,
        ) as live,
    ):

        def on_update(index: int, outcome) -> None:
            outcomes[index] = outcome
            if show_table:
                live.update(Group(bar, _table(outcomes)))

        emit = None if out.json_mode else out.write
        try:
            report = run_transcribe(
                runner, request, on_update=on_update, emit=emit, progress=rich_progress_factory(bar)
            )
        finally:
            if runner.notifications is not None:
                runner.notifications.stop()
    if out.json_mode:
        for outcome in report.outcomes:
            line = {
                "id": outcome.id,
                "input": outcome.input,
                "state": outcome.state,
                "output": outcome.output,
                "error": outcome.error,
            }
            if outcome.text is not None:
                line["text"] = outcome.text
            out.json_line(line)
    else:
        for outcome in report.outcomes:
            if outcome.state == "failed":
                out.err.print(
                    f"[red]failed:[/red] {outcome.input}: {outcome.error}", highlight=False
                )
        if len(items) > 1 or not wait:
            out.err.print(_table(report.outcomes))
        counts = {
            s: sum(1 for o in report.outcomes if o.state == s)
            for s in ("done", "failed", "pending")
        }
        out.info(
            f"{counts['done']} done, {counts['failed']} failed, {counts['pending']} pending; "
            f"{report.s3_requests} S3 requests"
        )
    pending = [o.id for o in report.outcomes if o.state == "pending" and o.id]
    if pending and wait:
        out.info(
            ("interrupted" if report.interrupted else "timed out")
            + "; the jobs continue on the endpoint. Fetch them later:"
        )
        for job_id in pending:
            out.info(f"  wasync fetch {job_id} --wait")
    elif pending:
        out.info("fetch results with `wasync fetch ID --wait`")
    code = (
        report.exit_code
        if wait
        else (1 if any(o.state == "failed" for o in report.outcomes) else 0)
    )
    if report.interrupted:
        code = 130
    raise typer.Exit(code)


@app.command()
@handled
def fetch(
    ctx: typer.Context,
    reference: Annotated[
        str, typer.Argument(help="A job ID (inference ID) or the job's s3:// output URI")
    ],
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Wait until the job finishes")
    ] = False,
    fmt: Annotated[
        str | None,
        typer.Option("--format", "-f", help="txt, json, srt, vtt or tsv [default: the job's]"),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout")
    ] = None,
    timeout: Annotated[str, typer.Option(help="Longest wait, e.g. 30m")] = "1h",
) -> None:
    """Get a job's result (from any machine), converting it to the format asked for."""
    from ..jobs import JobRunner
    from ..jobs import fetch as run_fetch
    from ..logs import parse_duration

    app_ctx = current(ctx)
    out = app_ctx.output
    outcome = run_fetch(
        JobRunner(app_ctx.clients),
        reference,
        fmt,
        output,
        wait,
        parse_duration(timeout),
        emit=out.write,
    )
    if out.json_mode and output is not None:
        out.json_line(outcome)
    if outcome.state == "failed":
        out.err.print(f"[red]failed:[/red] {outcome.input}: {outcome.error}", highlight=False)
        raise typer.Exit(1)
    if output is not None:
        out.info(f"wrote {output}")


@app.command()
@handled
def jobs(
    ctx: typer.Context,
    since: Annotated[str, typer.Option(help="How far back, e.g. 1d, 6h")] = "1d",
    state: Annotated[str | None, typer.Option(help="pending, done or failed")] = None,
) -> None:
    """List recent jobs from their records, with their state."""
    from ..jobs import JobRunner, list_jobs
    from ..logs import parse_duration

    app_ctx = current(ctx)
    found = list_jobs(JobRunner(app_ctx.clients), parse_duration(since), state)
    app_ctx.output.result(found, lambda o: o.print(_table(found)) if found else o.print("no jobs"))


local_app = typer.Typer(
    help="The offline stack: the whole lifecycle on 127.0.0.1.", no_args_is_help=True
)
app.add_typer(local_app, name="local")
StateDir = Annotated[
    Path | None,
    typer.Option("--state-dir", help="The stack's folder [default: ~/.local/state/wasync]"),
]


def _state_dir(ctx: typer.Context, state_dir: Path | None) -> Path:
    return state_dir if state_dir is not None else current(ctx).settings.state_dir


@local_app.command("up")
@handled
def local_up(
    ctx: typer.Context,
    state_dir: StateDir = None,
    port: Annotated[
        int, typer.Option(help="moto's port (the emulator takes the next) [default: free ports]")
    ] = 0,
    runtime: Annotated[str, typer.Option(help="process (no Docker needed) or docker")] = "process",
    time_scale: Annotated[
        float,
        typer.Option(
            help="AWS seconds per second: 60 makes CloudWatch periods, cooldowns and request "
            "TTLs pass 60x faster (one minute per second); real work keeps its own pace"
        ),
    ] = 1.0,
) -> None:
    """Start the stack in the background and return once it answers."""
    from ..local import stack

    app_ctx = current(ctx)
    directory = _state_dir(ctx, state_dir)
    info = stack.up(directory, port, runtime, time_scale=time_scale)
    app_ctx.output.result(
        {
            "pid": info.pid,
            "moto_url": info.moto_url,
            "sagemaker_url": info.sagemaker_url,
            "state_dir": str(info.state_dir),
            "time_scale": info.time_scale,
        },
        lambda o: o.print(
            f'local stack up (pid {info.pid}); run: eval "$(wasync local env'
            + (f" --state-dir {directory}" if state_dir else "")
            + ')"'
        ),
    )


@local_app.command("down")
@handled
def local_down(
    ctx: typer.Context,
    state_dir: StateDir = None,
    grace: Annotated[float, typer.Option(help="Seconds to let running jobs finish")] = 30.0,
) -> None:
    """Stop everything the stack started; name every job it did not finish."""
    from ..local import stack

    app_ctx = current(ctx)
    result = stack.down(_state_dir(ctx, state_dir), grace)

    def human(o) -> None:
        o.print("local stack stopped" if result.stopped else "no local stack was running")
        for job in result.unfinished:
            o.print(f"unfinished: {job['endpoint']} {job['inference_id']}")

    app_ctx.output.result(result, human)


@local_app.command("status")
@handled
def local_status(ctx: typer.Context, state_dir: StateDir = None) -> None:
    """The stack's services, endpoints, container processes and queue depths."""
    from ..local import stack

    app_ctx = current(ctx)
    info = stack.status(_state_dir(ctx, state_dir))

    def human(o) -> None:
        if not info["running"]:
            o.print(f"no local stack runs from {info['state_dir']}")
            return
        o.print(
            f"local stack pid {info['pid']}: moto {info['services']['moto']}, sagemaker {info['services']['sagemaker']}"
            + (f", time scale {info['time_scale']:g}" if info["time_scale"] != 1 else "")
        )
        app_ctx.output.table(
            None,
            ["endpoint", "status", "instances", "queued", "running", "restarts"],
            [
                (
                    e["name"],
                    e["status"],
                    f"{e['current_instances']} of {e['desired_instances']}",
                    e["queued"],
                    e["running"],
                    e["restarts"],
                )
                for e in info["endpoints"]
            ],
        )

    app_ctx.output.result(info, human)
    if not info["running"]:
        raise typer.Exit(1)


@local_app.command("env")
@handled
def local_env(ctx: typer.Context, state_dir: StateDir = None) -> None:
    """Print export lines: eval "$(wasync local env)" points wasync, the AWS CLI and boto3 here."""
    from ..local import stack

    for line in stack.environment(_state_dir(ctx, state_dir)):
        typer.echo(line)


@local_app.command("logs")
@handled
def local_logs(ctx: typer.Context, state_dir: StateDir = None) -> None:
    """Show the stack's log and its containers' logs."""
    from ..local import stack

    typer.echo(stack.log_text(_state_dir(ctx, state_dir)))
