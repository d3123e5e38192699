"""The everyday commands: transcribe, fetch and jobs; `app.py` registers them."""

# No `from __future__ import annotations` here: Typer would evaluate every annotation
# string of every command at start-up, which costs more than the annotations themselves.

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from . import render
from .context import current, finish

STATE_STYLE = {
    "uploading": "cyan",
    "queued": "yellow",
    "done": "green",
    "failed": "red",
    "pending": "magenta",
}


def _table(outcomes: list) -> Any:
    table = render.table(
        ("file", "state", "job", "result"),
        (
            (
                o.input,
                render.text(o.state, STATE_STYLE.get(o.state, "")),
                o.id,
                o.error or o.output,
            )
            for o in outcomes
            if o is not None
        ),
    )
    table.box = None
    return table


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
    from rich.console import Group
    from rich.live import Live

    from ..durations import parse_duration
    from ..inputs import expand
    from ..jobs import JobRunner, TranscribeRequest
    from ..jobs import transcribe as run_transcribe
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
                out.failed(outcome.input, outcome.error)
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
    finish(report, waiting=wait)


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
    from ..durations import parse_duration
    from ..jobs import JobRunner
    from ..jobs import fetch as run_fetch

    app_ctx = current(ctx)
    out = app_ctx.output
    outcome = run_fetch(
        JobRunner(app_ctx.clients),
        reference,
        fmt,
        output,
        wait,
        parse_duration(timeout),
        # Under --json the transcript travels inside the document (its `text`), never bare.
        emit=None if out.json_mode else out.write,
    )
    if out.json_mode:
        out.show(outcome, lambda console, o: None)
    if outcome.state == "failed":
        out.failed(outcome.input, outcome.error)
    elif output is not None:
        out.info(f"wrote {output}")
    finish(outcome)


def jobs(
    ctx: typer.Context,
    since: Annotated[str, typer.Option(help="How far back, e.g. 1d, 6h")] = "1d",
    state: Annotated[str | None, typer.Option(help="pending, done or failed")] = None,
) -> None:
    """List recent jobs from their records, with their state."""
    from ..durations import parse_duration
    from ..jobs import JobRunner, list_jobs

    app_ctx = current(ctx)
    found = list_jobs(JobRunner(app_ctx.clients), parse_duration(since), state)
    out = app_ctx.output
    if out.json_mode:
        for outcome in found:  # JSON lines, one per job
            out.json_line(outcome)
    else:
        out.out.print(_table(found) if found else render.text("no jobs"))
