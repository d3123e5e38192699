"""The everyday commands: transcribe, fetch and jobs; `app.py` registers them. They parse,
call one capability (`jobs/`) and hand its result to a renderer (`job_render.py`)."""

# No `from __future__ import annotations` here: Typer would evaluate every annotation
# string of every command at start-up, which costs more than the annotations themselves.

import sys
from pathlib import Path
from typing import Annotated

import typer

from .context import current, finish

# Options, one line each in the command signatures below.
Inputs = Annotated[
    list[str],
    typer.Argument(
        metavar="input",
        help="Files, folders, globs, s3:// URIs and prefixes (s3://bucket/calls/), or - to read paths from stdin",
    ),
]
Wait = Annotated[bool, typer.Option("--wait/--no-wait", help="Wait for the results")]
OutputDir = Annotated[
    Path | None,
    typer.Option(
        "--output-dir",
        "-o",
        help="Where transcripts go, a folder's in its subfolders [default: next to each "
        "input; one file with --wait: stdout, as -o -]",
    ),
]


def _lower(value: str | None) -> str | None:
    """-f SRT is -f srt: a format's name is read without regard to case."""
    return value.lower() if value is not None else None


Format = Annotated[
    str, typer.Option("--format", "-f", help="txt, json, srt, vtt or tsv", callback=_lower)
]
Language = Annotated[
    str | None, typer.Option(help="Language code, e.g. en, de, ja [default: detect]")
]
Task = Annotated[str, typer.Option(help="transcribe, or translate to English")]
WordTimestamps = Annotated[bool, typer.Option("--word-timestamps", help="Word-level timings")]
Vad = Annotated[
    bool,
    typer.Option(
        "--vad", help="Skip silence with voice activity detection (batched decoding always does)"
    ),
]
InitialPrompt = Annotated[
    str | None, typer.Option(help="Text to prime the decoder (names, jargon)")
]
BeamSize = Annotated[int | None, typer.Option(help="Beam size [default: the endpoint's]")]
BatchSize = Annotated[
    int | None,
    typer.Option(
        help="Voice chunks decoded side by side; 1 decodes 30 s windows in sequence "
        "[default: the endpoint's]"
    ),
]
Concurrency = Annotated[
    int | None, typer.Option(help="Uploads and requests in flight [default: 4 per core, 8-32]")
]
Timeout = Annotated[str, typer.Option(help="Longest wait for results, e.g. 30m, 1h")]
Overwrite = Annotated[bool, typer.Option(help="Replace existing transcripts")]
KeepExtension = Annotated[
    bool,
    typer.Option(
        "--keep-extension",
        help="Name each transcript after its input's whole name (call.wav.txt), so call.wav "
        "and call.mp4 get one each",
    ),
]
Inline = Annotated[
    bool, typer.Option("--inline/--no-inline", help="Send files up to 128,000 bytes in the request")
]
RequestTtl = Annotated[
    str, typer.Option(help="Drop a request still queued after this long (1m-6h)")
]
InvocationTimeout = Annotated[
    str, typer.Option(help="Fail a request still running after this long (1s-1h)")
]
Rerun = Annotated[
    bool, typer.Option("--rerun", help="Start new jobs even for inputs already transcribed")
]
NotifyQueue = Annotated[
    str | None,
    typer.Option(
        help="SQS queue URL subscribed to the endpoint's SNS topics: wait on it instead of listing S3"
    ),
]


def transcribe(
    ctx: typer.Context,
    inputs: Inputs,
    wait: Wait = False,
    output_dir: OutputDir = None,
    fmt: Format = "txt",
    language: Language = None,
    task: Task = "transcribe",
    word_timestamps: WordTimestamps = False,
    vad: Vad = False,
    initial_prompt: InitialPrompt = None,
    beam_size: BeamSize = None,
    batch_size: BatchSize = None,
    concurrency: Concurrency = None,
    timeout: Timeout = "1h",
    overwrite: Overwrite = False,
    keep_extension: KeepExtension = False,
    inline: Inline = True,
    request_ttl: RequestTtl = "6h",
    invocation_timeout: InvocationTimeout = "1h",
    rerun: Rerun = False,
    notify_queue: NotifyQueue = None,
) -> None:
    """Queue audio on the async endpoint; with --wait, write the transcripts (re-run: resume)."""
    from ..durations import parse_duration
    from ..inputs import LeftOut, check_argument, iter_inputs, stdin_paths
    from ..jobs import TranscribeRequest
    from ..jobs import transcribe as run_transcribe
    from ..jobs.transcribe import input_keys
    from .job_render import BatchView, exit_code, leave

    app_ctx = current(ctx)
    list_keys = input_keys(app_ctx.clients)
    for argument in inputs:  # a typo is a usage error before anything is sent
        note = check_argument(argument, list_keys)
        if note:
            app_ctx.output.info(note)
    options = request_options(
        language, task, word_timestamps, vad, initial_prompt, beam_size, batch_size
    )
    to_stdout = stdout_destination(inputs, output_dir, wait, app_ctx.output.stdout_closed)
    request = TranscribeRequest(
        options=options,
        fmt=fmt,
        output_dir=None if to_stdout else output_dir,
        overwrite=overwrite,
        wait=wait,
        timeout=parse_duration(timeout),
        inline=inline,
        request_ttl=parse_duration(request_ttl),
        invocation_timeout=parse_duration(invocation_timeout),
        rerun=rerun,
        to_stdout=to_stdout,
        keep_extension=keep_extension,
    )
    view = BatchView(app_ctx.output, wait, rerun=rerun)
    left_out: dict[str, LeftOut] = {}  # an S3 prefix's, found as it is listed
    stdin = stdin_paths(sys.stdin) if "-" in inputs else []
    items = iter_inputs(inputs, stdin, list_keys, left_out)
    with view.live():
        report = run_transcribe(
            app_ctx.clients,
            items,
            request,
            view.outcome,
            view.start,
            concurrency,
            notify_queue,
            on_first_send=view.first_send,
        )
    view.summary(report)
    for argument, objects in left_out.items():
        note = objects.note(argument)
        if note:
            app_ctx.output.info(note)
    leave(exit_code(report), app_ctx.output)


def stdout_destination(
    inputs: list[str], output_dir: Path | None, wait: bool, stdout_closed: bool
) -> bool:
    """Whether the transcript goes to stdout: one input waited for, with no -o or with
    `-o -` (as for fetch). A usage error where stdout cannot take it."""
    from ..errors import UsageError
    from ..inputs import is_one_input

    dash = output_dir is not None and str(output_dir) == "-"
    if dash and not is_one_input(inputs):
        raise UsageError(
            "-o - writes one transcript to stdout, and these inputs may be several",
            "pass -o DIR for a folder of transcripts, or --json for every result as a line",
        )
    to_stdout = wait and is_one_input(inputs) and (output_dir is None or dash)
    if to_stdout:
        check_stdout_open(stdout_closed, "-o DIR")
    return to_stdout


def check_stdout_open(stdout_closed: bool, instead: str) -> None:
    """A transcript bound for a closed stdout (`>&-`) would be lost without a word."""
    from ..errors import UsageError

    if stdout_closed:
        raise UsageError(
            "stdout is closed, and the transcript would go there", f"pass {instead} to write a file"
        )


def request_options(
    language: str | None,
    task: str,
    word_timestamps: bool,
    vad: bool,
    initial_prompt: str | None,
    beam_size: int | None,
    batch_size: int | None,
) -> dict[str, object]:
    """The request options the server reads, without the defaults it applies itself."""
    options = {
        "language": language,
        "task": None if task == "transcribe" else task,
        "word_timestamps": word_timestamps or None,
        "vad_filter": vad or None,
        "initial_prompt": initial_prompt,
        "beam_size": beam_size,
        "batch_size": batch_size,
    }
    return {k: v for k, v in options.items() if v is not None}


def fetch(
    ctx: typer.Context,
    reference: Annotated[
        str, typer.Argument(help="A job ID (or inference ID), or the job's s3:// output URI")
    ],
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Wait until the job finishes")
    ] = False,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help="txt, json, srt, vtt or tsv [default: -o's extension, else the job's]",
            callback=_lower,
        ),
    ] = None,
    output_option: Annotated[
        str | None,
        typer.Option("--output", "-o", help="Write here instead of stdout", metavar="<path>"),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --output file")] = False,
    timeout: Annotated[str, typer.Option(help="Longest wait, e.g. 30m")] = "1h",
) -> None:
    """Get a job's result (from any machine), converting it to the format asked for."""
    from ..durations import parse_duration
    from ..errors import UsageError
    from ..files import named_file
    from ..jobs import fetch as run_fetch
    from ..jobs.fetch import StillPending
    from .job_render import show_fetched

    app_ctx = current(ctx)
    try:
        output = None if output_option is None else named_file(output_option, "-o")
    except ValueError as exc:
        raise UsageError(
            str(exc), f"pass the file to write, e.g. {output_option}result.txt"
        ) from None
    if output is None or str(output) == "-":
        check_stdout_open(app_ctx.output.stdout_closed, "-o FILE")
    try:
        fetched = run_fetch(
            app_ctx.clients, reference, fmt, output, wait, parse_duration(timeout), overwrite
        )
    except StillPending as pending:
        if app_ctx.output.json_mode:  # a script's `| jq .state` reads "pending", exit 3
            app_ctx.output.json_line(pending.pending)
        raise
    show_fetched(app_ctx.output, fetched, output is not None and str(output) != "-")
    finish(fetched)


def jobs(
    ctx: typer.Context,
    since: Annotated[str, typer.Option(help="How far back, e.g. 1d, 6h")] = "1d",
    state: Annotated[str | None, typer.Option(help="pending, done or failed")] = None,
    batch: Annotated[str | None, typer.Option(help="Only this batch's jobs")] = None,
) -> None:
    """List recent jobs from their records, with their state (JSON lines under --json); only
    the endpoint's when one is named (-e, WASYNC_ENDPOINT), else every endpoint's."""
    from ..durations import parse_duration
    from ..jobs import list_jobs
    from .job_render import outcome_table

    app_ctx = current(ctx)
    out = app_ctx.output
    settings = app_ctx.clients.settings
    named = settings.sources.get("endpoint", "default") != "default"  # -e, env or config file
    endpoint = settings.endpoint if named else None  # else every endpoint's jobs
    found = list_jobs(app_ctx.clients, parse_duration(since), state, batch, endpoint=endpoint)
    if out.json_mode:
        for entry in found:
            out.json_line(entry)
    elif found:
        out.out.print(outcome_table(found, endpoints=endpoint is None))
    else:
        out.out.print("no jobs")
