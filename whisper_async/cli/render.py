"""Rendering: one renderer per result type, as rich text for people or JSON for scripts.

The pattern every command follows (docs/architecture.md):

    result = capability(app.clients, ...)      # a frozen dataclass, never printed by its maker
    app.output.show(result, render_status)     # JSON document under --json, else the renderer
    finish(result)                             # the exit code, from `exit_code(result)`

A renderer takes (console, result) and prints. Text that comes from users or AWS (file names,
S3 keys, log lines, error messages) is always passed as `Text`/`markup=False`, never as rich
markup, so `[` and `]` print as themselves.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import enum
import errno
import io
import json
import os
import re
import sys
import textwrap
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar, cast

from ..durations import format_duration
from ..errors import ExitCode, WasyncError
from ..progress import Advance, ProgressFactory
from ..redaction import hide_credentials

if TYPE_CHECKING:  # rich is imported when something is printed: `--version` stays fast
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table
    from rich.text import Text

    from ..endpoint import DeployPlan, DeployResult
    from ..iam import IamDocuments, RolePlan
    from ..logs import LogEvent, RequestLine
    from ..plan import Step
    from ..scaling import ScalingPlan, ScalingRemoved, ScalingSettings
    from ..status import EndpointStatus
    from ..teardown import DeletePlan, DeleteResult

R = TypeVar("R")
Renderer = Callable[["Console", R], None]


def to_jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
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


# Control characters and bidirectional overrides, shown as escapes: a job record's source, an
# S3 key or an endpoint's message may carry terminal escape sequences (rich drops only some).
# And a file name's undecodable bytes (surrogates): written out later, rich had padded the
# table for one cell where six appeared.
_INVISIBLE = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


def visible(value: str) -> str:
    """`value` with what would control the terminal written out as \\xNN or \\uNNNN."""
    return _INVISIBLE.sub(
        lambda found: (
            f"\\x{ord(found[0]):02x}" if ord(found[0]) < 0x100 else f"\\u{ord(found[0]):04x}"
        ),
        value,
    )


def shown(value: str) -> str:
    """What may reach the terminal of `value`: no URL's password (botocore's and httpx's own
    messages quote the endpoint URL whole), no control characters."""
    return visible(hide_credentials(value))


def text(value: Any, style: str = "") -> Text:
    """A value as literal text: never parsed as markup; `shown`."""
    from rich.text import Text

    return Text("" if value is None else shown(str(value)), style=style)


def assemble(*parts: str | tuple[str, str]) -> Text:
    """Literal pieces, some styled: ("error:", "red"), " ", message."""
    from rich.text import Text

    return Text.assemble(
        *(shown(part) if isinstance(part, str) else (shown(part[0]), part[1]) for part in parts)
    )


class ReaderGone:
    """stdout whose reader may leave (`wasync jobs | head -1`). Once a write finds the pipe
    closed, the rest of the output is dropped and the command finishes its work (a batch still
    writes its transcripts) with its own exit code, without a word: there is nobody to tell.
    The descriptor is pointed at /dev/null, so the interpreter's flush at exit cannot fail."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.gone = False
        # Another write error (a full disk, `> /dev/full`): the output is lost, which the
        # command's exit code must say (Output.stdout_failure)
        self.failure: OSError | None = None

    def write(self, data: str) -> int:
        if not self.gone:
            try:
                return self._stream.write(data)
            except OSError as exc:
                self._leave(exc)
        return len(data)

    def flush(self) -> None:
        if not self.gone:
            try:
                self._stream.flush()
            except OSError as exc:
                self._leave(exc)

    def _leave(self, exc: OSError) -> None:
        self.gone = True
        if not isinstance(exc, BrokenPipeError):
            self.failure = exc
        with contextlib.suppress(OSError, ValueError):  # a stream with no descriptor (tests)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding: the stream's own
        return getattr(self._stream, name)


# Without a terminal (a pipe, a file, a CI log) rich lays tables out for 80 columns and cuts
# cells short; job ids and paths must survive `wasync jobs > jobs.txt`. COLUMNS still rules.
UNBOUNDED_WIDTH = 10_000
TRAILING_SPACES = re.compile(r" +\n")


class TrimmedLines:
    """A stream that drops the spaces rich pads a table's last column with, line by line:
    in a file every row would otherwise run on to the widest one's length."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, data: str) -> int:
        self._stream.write(TRAILING_SPACES.sub("\n", data))
        return len(data)

    def __getattr__(self, name: str) -> Any:  # flush, isatty, fileno: the stream's own
        return getattr(self._stream, name)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def console_for(stream: TextIO) -> Console:
    from rich.console import Console

    if _is_terminal(stream):
        return Console(file=stream, soft_wrap=True, highlight=False)
    width = None if os.environ.get("COLUMNS") else UNBOUNDED_WIDTH
    trimmed = cast("TextIO", TrimmedLines(stream))
    return Console(file=trimmed, soft_wrap=True, highlight=False, width=width)


def _nowhere() -> TextIO:
    return open(os.devnull, "w", encoding="utf-8")  # kept open as long as the Output


class ClosedStdout(io.TextIOBase):
    """What a command writes when it started with stdout closed (`>&-`): each write fails,
    so the output's loss is reported as `> /dev/full`'s is (Output.stdout_failure)."""

    def write(self, data: str) -> int:
        if not data:
            return 0
        raise OSError(errno.EBADF, "stdout is closed")

    def fileno(self) -> int:
        raise io.UnsupportedOperation("stdout is closed")


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
        # Python sets sys.stdout to None when the process starts with it closed (`>&-`)
        stdout = stdout or sys.stdout
        self.stdout_closed = stdout is None or isinstance(stdout, ClosedStdout)
        self._reader = ReaderGone(stdout or cast("TextIO", ClosedStdout()))
        self._stdout = cast("TextIO", self._reader)  # data goes here as is
        self.out = console_for(self._stdout)
        # stderr that cannot be written (`2> /dev/full`) loses the messages, not the work's
        # exit code
        self.err = console_for(cast("TextIO", ReaderGone(stderr or sys.stderr or _nowhere())))

    def show(self, result: R, renderer: Renderer[R]) -> None:
        """A command's one result: a JSON document on stdout, or the renderer's text."""
        if self.json_mode:
            document = json.dumps(to_jsonable(result), indent=2, sort_keys=True)
            self._stdout.write(hide_credentials(document) + "\n")
            self._stdout.flush()
        else:
            renderer(self.out, result)

    def show_line(self, item: R, renderer: Renderer[R]) -> None:
        """One item of a stream (`transcribe`, `jobs`, `logs`): a JSON line, or text."""
        if self.json_mode:
            self.json_line(item)
        else:
            renderer(self.out, item)

    def json_line(self, data: Any) -> None:
        self._stdout.write(hide_credentials(json.dumps(to_jsonable(data), sort_keys=True)) + "\n")
        self._stdout.flush()

    def write(self, raw: str) -> None:
        """Raw text on stdout (a transcript), unstyled; unchanged, except that on a terminal
        control characters are written out (a result is as writable as a job record)."""
        self._stdout.write(visible(raw) if _is_terminal(self._stdout) else raw)
        self._stdout.flush()

    def info(self, message: str) -> None:
        if not self.quiet:
            self.err.print(text(message))

    def debug(self, message: str) -> None:
        if self.verbose:
            self.err.print(text(message, "dim"))

    def warn(self, message: str) -> None:
        self.err.print(assemble(("warning:", "yellow"), " ", message))

    def failed(self, what: str, reason: str | None) -> None:
        shown = f" {cut_middle(what)}: {cut_middle(reason or '', MOST_REASON_SHOWN)}"
        self.err.print(assemble(("failed:", "red"), shown))

    @property
    def stdout_failure(self) -> OSError | None:
        """Why stdout could not take the output (not a reader that left): None when it could."""
        self._reader.flush()
        return self._reader.failure

    def error(self, error: WasyncError) -> None:
        self.err.print(assemble(("error:", "red"), " ", error.message))
        if error.hint:
            self.err.print(text(f"hint: {error.hint}", "dim"))

    def transfer_progress(self) -> Progress:
        """A byte-counting progress bar on stderr, silent under --quiet and off a terminal."""
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        return Progress(
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=self.err,
            # off a terminal rich draws nothing until the end, and then a transient bar's blank line
            disable=self.quiet or not self.err.is_terminal,
            transient=True,
        )

    @contextlib.contextmanager
    def live_line(self) -> Iterator[Callable[[str], None]]:
        """A one-line live display on stderr (a no-op under --quiet or off a terminal, where it
        drew only a blank line at the end); yields `update(text)`."""
        if self.quiet or not self.err.is_terminal:
            yield lambda message: None
            return
        from rich.live import Live

        with Live(text(""), console=self.err, transient=True, refresh_per_second=4) as live:
            yield lambda message: live.update(text(message))


# Characters of a name shown in a message or a row (a name from stdin may be any length: a
# 100,000-character line filled the terminal twice) and of a reason (AWS caps its at 1,024)
MOST_NAME_SHOWN = 300
MOST_REASON_SHOWN = 1200


def cut_middle(value: str, most: int = MOST_NAME_SHOWN) -> str:
    """A long string with its middle left out ("…"): a path's start and file name stay."""
    if len(value) <= most:
        return value
    head = (most - 1) // 2
    return value[:head] + "…" + value[len(value) - (most - 1 - head) :]


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None) -> Table:
    """A table whose cells are literal text on one line each (a `Text` cell keeps its own
    style): a newline in a file's name would otherwise pass for the next row."""
    from rich.table import Table
    from rich.text import Text

    grid = Table(title=title, show_header=True, header_style="bold")
    for column in columns:
        grid.add_column(column)
    for row in rows:
        grid.add_row(*(v if isinstance(v, Text) else text(one_line(v)) for v in row))
    return grid


_LINE_BREAKS = str.maketrans({"\n": "\\n", "\r": "\\r", "\t": "\\t"})


def one_line(value: Any) -> Any:
    """A string with its line breaks and tabs written out (`\\n`); anything else as it is."""
    return value.translate(_LINE_BREAKS) if isinstance(value, str) else value


def key_values(pairs: Iterable[tuple[str, Any]]) -> Table:
    from rich.table import Table

    grid = Table(show_header=False, box=None, pad_edge=False)
    grid.add_column(style="bold")
    grid.add_column()
    for key, value in pairs:
        grid.add_row(text(key), text(value))
    return grid


def rich_progress_factory(progress: Progress) -> ProgressFactory:
    """Adapt a rich Progress to the capabilities' ProgressFactory."""

    def factory(description: str, total: int | None) -> Advance:
        task = progress.add_task(description, total=total)
        return lambda amount: progress.advance(task, amount)

    return factory


# The exit code of every command comes from here (errors carry their own: errors.py).


def exit_code(result: object, waiting: bool = True) -> ExitCode:
    """A command's exit code from its result: 1 when any job failed, 3 when waiting ran out
    with jobs pending, 130 when interrupted, else 0. `waiting` says whether the command was
    asked to wait (without it, pending is the expected state)."""
    if getattr(result, "interrupted", False):
        return ExitCode.INTERRUPTED
    outcomes = getattr(result, "outcomes", None)
    states = [getattr(o, "state", None) for o in outcomes] if outcomes is not None else []
    state = getattr(result, "state", None)
    if state is not None:
        states.append(state)
    if "failed" in states:
        return ExitCode.FAILURE
    if waiting and "pending" in states:
        return ExitCode.TIMEOUT
    if isinstance(result, Mapping) and result.get("running") is False:
        return ExitCode.FAILURE  # `local status` with no stack running
    return ExitCode.OK


# Renderers, one per result type.


def render_steps(console: Console, steps: Sequence[Step]) -> None:
    """A plan as its API calls: what `--dry-run` prints."""
    from ..plan import Output as StepOutput

    def placeholder(value: Any) -> Any:
        if isinstance(value, StepOutput):
            return f"<{value.key} returned by step {value.step + 1}>"
        if isinstance(value, Mapping):
            return {k: placeholder(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [placeholder(v) for v in value]
        return value

    if not steps:
        console.print(text("nothing to change"))
    for number, step in enumerate(steps, 1):
        console.print(text(f"{number}. {step.summary}", "bold"))
        params = json.dumps(placeholder(dict(step.params)), indent=2, default=str)
        call = f"{step.service}.{step.operation}({params})"
        console.print(text(textwrap.indent(call, "   ")))


def render_deploy_plan(console: Console, plan: DeployPlan) -> None:
    if plan.action == "unchanged":
        console.print(text(f"{plan.endpoint} is up to date: nothing to deploy"))
    else:
        console.print(text(f"{plan.action} endpoint {plan.endpoint} with {plan.model_uri}"))
    for change in plan.changes if plan.action == "update" else ():
        console.print(text(f"  changes {change}"))
    render_steps(console, plan.steps)


def render_deploy(console: Console, result: DeployResult) -> None:
    if result.action == "unchanged":
        console.print(text(f"{result.endpoint} is up to date ({result.config_name}); no update"))
    else:
        console.print(text(f"{result.endpoint}: {result.status}"))
    if result.removed:
        console.print(text(f"removed what it superseded: {', '.join(result.removed)}"))


def render_scaling_plan(console: Console, plan: ScalingPlan) -> None:
    render_steps(console, plan.steps)


def render_scaling(console: Console, result: ScalingSettings) -> None:
    console.print(
        text(
            f"{result.endpoint} ({result.variant}): {result.min_capacity}-{result.max_capacity} "
            f"instances, target backlog {result.target_backlog:g}/instance"
            + (", scales out from zero" if result.alarm else "")
        )
    )


def render_scaling_removed(console: Console, result: ScalingRemoved) -> None:
    console.print(text(f"autoscaling off ({len(result.removed)} resources removed)"))


def render_status(console: Console, report: EndpointStatus) -> None:
    scaling = report.autoscaling
    autoscaling = "off"
    if scaling is not None:
        autoscaling = (
            f"{scaling.min_capacity}-{scaling.max_capacity}, target "
            f"{scaling.target_backlog_per_instance}"
            + (", from zero" if scaling.scale_out_from_zero else "")
        )
    status = report.status + (f" ({report.failure_reason})" if report.failure_reason else "")
    age = report.oldest_request_age_seconds
    backlog = None if report.backlog is None else f"{report.backlog:g}"
    oldest = None if age is None else format_duration(age)
    console.print(
        key_values(
            [
                ("endpoint", report.endpoint),
                ("status", status),
                (
                    "instances",
                    f"{report.current_instances} of {report.desired_instances} desired, "
                    f"{report.instance_type} (variant {report.variant})",
                ),
                ("model", report.model_data),
                ("image", report.image),
                ("outputs", report.output_path),
                (
                    "concurrency",
                    report.max_concurrency or "SageMaker's default (no ClientConfig)",
                ),
                (
                    "settings",
                    " ".join(f"{k}={v}" for k, v in report.settings.items()) or "defaults",
                ),
                ("autoscaling", autoscaling),
                ("backlog", as_of(backlog, report.backlog_at, report.time_scale)),
                (
                    "oldest request",
                    as_of(oldest, report.oldest_request_at, report.time_scale),
                ),
                *capacity_lines(report),
            ]
        )
    )
    for warning in report.capacity.warnings:
        console.print(assemble(("warning:", "yellow"), " ", warning))


def as_of(value: str | None, at: dt.datetime | None, time_scale: float) -> str:
    """A CloudWatch figure with the time of its datapoint: the latest can be minutes old (a
    queue that has just emptied still shows its last minute)."""
    from ..capacity import age_minutes

    if value is None:
        return "no data"
    if at is None:
        return value
    return f"{value} (as of {utc_clock(at)}, {age_minutes(at, time_scale)} min ago)"


def utc_clock(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%H:%M UTC")


def capacity_lines(report: EndpointStatus) -> list[tuple[str, str]]:
    """Each alarm on the endpoint's metrics and the latest scaling activity, with ages in AWS
    minutes (the local stack's compressed minutes too)."""
    from ..capacity import age_minutes

    scale = report.time_scale
    lines = [
        ("alarm", f"{a.name}: {a.state} for {age_minutes(a.since, scale)} min")
        for a in report.capacity.alarms
    ]
    activity = report.capacity.latest_activity
    if activity is not None:
        ago = age_minutes(activity.start, scale)
        lines.append(
            (
                "last scaling",
                f"{activity.description} {activity.status}, {ago} min ago ({activity.cause})",
            )
        )
    if scale != 1:
        lines.append(("clock", f"local stack at --time-scale {scale:g}: minutes are AWS minutes"))
    return lines


def render_log_event(console: Console, event: LogEvent) -> None:
    stamp = dt.datetime.fromtimestamp(event.timestamp / 1000, dt.timezone.utc)
    console.print(assemble((f"{stamp:%H:%M:%S}", "dim"), " ", event.message))


# (heading, width) of each column of `logs --requests`
REQUEST_COLUMNS = (
    ("TIME", 8),
    # a wasync job's inference id: its 24-digit id, "-", the 22-character batch id (AWS's
    # own are 36-character UUIDs)
    ("INFERENCE ID", 47),
    ("STATUS", 6),
    ("OUTCOME", 20),  # the server's longest code: unsupported_language
    ("AUDIO S", 8),
    ("PROC S", 7),
    ("RTF", 6),
    ("ENGINE", 6),
    ("MODEL", 10),
    ("LANG", 4),
)


def _cells(values: Sequence[str]) -> str:
    return "  ".join(
        f"{value:<{width}}" for value, (_, width) in zip(values, REQUEST_COLUMNS, strict=True)
    ).rstrip()


def _figure(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def request_table() -> Renderer[RequestLine]:
    """A renderer that prints request lines as the rows of one table, its heading before the
    first row: rows appear as requests come in, under --follow too."""
    started = False

    def row(console: Console, line: RequestLine) -> None:
        nonlocal started
        if not started:
            console.print(text(_cells([name for name, _ in REQUEST_COLUMNS]), "bold"))
            started = True
        stamp = dt.datetime.fromtimestamp(line.timestamp / 1000, dt.timezone.utc)
        cells = [
            f"{stamp:%H:%M:%S}",
            line.inference_id or "-",
            "-" if line.status is None else str(line.status),
            line.outcome or "-",
            _figure(line.audio_seconds, 1),
            _figure(line.processing_seconds, 2),
            _figure(line.real_time_factor, 3),
            line.engine or "-",
            line.model or "-",
            line.language or "-",
        ]
        style = "" if line.outcome == "ok" else "red"
        console.print(text(_cells(cells), style))

    return row


def render_delete_plan(console: Console, plan: DeletePlan) -> None:
    render_steps(console, plan.steps)
    render_delete_warning(console, plan)


def render_delete_warning(console: Console, plan: DeletePlan) -> None:
    """Work the endpoint still holds, which deleting it loses."""
    again = (
        "To send them again after the next deploy, run the same transcribe command (on the "
        "local stack, where deleting fails them, add --rerun)"
    )
    if plan.backlog:
        when = f" as of {utc_clock(plan.backlog_at)}" if plan.backlog_at else ""
        console.print(
            assemble(
                ("warning:", "yellow"),
                f" {plan.endpoint} had {plan.backlog} request(s) queued or running{when}; "
                f"deleting it loses them. {again}",
            )
        )
    if plan.sent_since:
        batches = ", ".join(plan.sent_since[:3]) + (", ..." if len(plan.sent_since) > 3 else "")
        after = "after that" if plan.backlog_at else "in the last minutes"
        console.print(
            assemble(
                ("warning:", "yellow"),
                f" {len(plan.sent_since)} transcribe run(s) sent {plan.endpoint} jobs {after} "
                f"(batch {batches}), which CloudWatch does not count yet; any still queued or "
                f"running are lost. {again}",
            )
        )


def render_delete(console: Console, result: DeleteResult) -> None:
    if not result.removed and not result.purged_objects:
        console.print(text(f"nothing to delete for {result.endpoint}"))
        return
    purged = f", {result.purged_objects} objects" if result.purged_objects else ""
    console.print(text(f"deleted {len(result.removed)} resources{purged}"))


def render_iam(console: Console, docs: IamDocuments) -> None:
    console.print(text(f"# execution role {docs.role_arn}"))
    if docs.created:
        for change in docs.changes or ("nothing to change: the role is up to date",):
            console.print(text(f"# {change}"))
    for note in docs.notes:
        console.print(text(f"# note: {note}"))
    for title, document in (
        ("trust policy", docs.trust_policy),
        ("execution role policy", docs.execution_policy),
        ("user policy for running wasync", docs.user_policy),
    ):
        console.print(text(f"# {title}"))
        console.print(text(json.dumps(document, indent=2)))


def render_role_plan(console: Console, plan: RolePlan) -> None:
    console.print(text(f"# role {plan.role_name}: {len(plan.steps)} changes"))
    render_steps(console, plan.steps)


def render_value(console: Console, value: Any) -> None:
    """A one-value result (a URI): the value alone, so shells can capture it."""
    console.print(text(value))
