"""How transcribe, fetch and jobs show their results: a live view that stays readable at
10,000 jobs (counts, rate, ETA, the latest failures), JSON lines under --json, and the one
function that turns a batch's report into the exit code."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ..errors import ExitCode
from ..jobs import Batch, BatchReport, Fetched, JobEntry, JobOutcome, Progress
from .render import MOST_REASON_SHOWN, Output, cut_middle

INTERRUPTED = int(ExitCode.INTERRUPTED)  # 130, the shell's code for SIGINT
TABLE_ROWS = 20  # a batch this small also gets a table of every job at the end
# Without a terminal (a log file, CI), a line of counts this often instead of the live view.
PLAIN_PROGRESS_SECONDS = 60.0
STATE_STYLE = {"done": "green", "failed": "red", "pending": "magenta"}


def exit_code(report: BatchReport) -> int:
    """130 interrupted, 1 any job failed, 3 still pending after --wait, else 0."""
    if report.interrupted:
        return INTERRUPTED
    if report.failed:
        return int(ExitCode.FAILURE)
    if report.pending and report.waited:
        return int(ExitCode.TIMEOUT)
    return int(ExitCode.OK)


def leave(code: int, output: Output) -> None:
    """End the command with `code`. An interrupted run leaves at once: Ctrl-C must end the
    process within a second, and the interpreter's teardown with boto3 loaded alone takes
    about half a second on a busy machine. Everything is flushed first; the worker threads
    would die at exit either way. (Only in a real process: a test's CliRunner gets Exit.)"""
    import typer

    if code == INTERRUPTED and sys.stdout is sys.__stdout__:
        for stream in (output.out.file, output.err.file, sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()  # type: ignore[union-attr]  # None only if closed: suppressed
        os._exit(code)
    raise typer.Exit(code)


def outcome_json(outcome: JobOutcome) -> dict[str, Any]:
    line: dict[str, Any] = {
        "id": outcome.id,
        "input": outcome.input,
        "state": outcome.state,
        "output": outcome.output,
        "error": outcome.error,
    }
    if outcome.note:
        line["note"] = outcome.note
    if outcome.text is not None:
        line["text"] = outcome.text
    return line


def status_line(progress: Progress) -> str:
    """One line of counts for the live view."""
    finished = progress.done + progress.failed
    # results an earlier run's jobs had left are read in the first seconds: counting them
    # would make the rate, and so the ETA, far too hopeful
    ran_now = max(0, finished - progress.finished_before)
    rate = ran_now / progress.seconds if progress.seconds > 0 else 0.0
    parts = [
        f"read {progress.read}",
        f"sent {progress.submitted}",
        f"done {progress.done}",
        f"failed {progress.failed}",
        f"waiting {progress.waiting}",
    ]
    if progress.adopted:
        parts.insert(2, f"already started {progress.adopted}")
    if progress.throttled:
        parts.append(f"throttled {progress.throttled}x")
    parts.append(f"{rate:.1f}/s")
    remaining = progress.read - finished - progress.pending
    if progress.inputs_done and rate > 0 and remaining > 0:
        seconds = int(remaining / rate)
        parts.append(f"ETA {seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}")
    return " · ".join(parts)


class BatchView:
    """Receives a batch's outcomes (from its threads) and shows them."""

    def __init__(
        self,
        output: Output,
        wait: bool,
        plain_every: float = PLAIN_PROGRESS_SECONDS,
        rerun: bool = False,
    ) -> None:
        self.output = output
        self.wait = wait
        # the same command with --rerun sends every job again: the way back leaves it out
        self.rerun = rerun
        self.again = "Run the same command without --rerun" if rerun else "Re-run the same command"
        self.rows: list[JobOutcome] | None = []  # None once the batch outgrows a table
        self.batch: Batch | None = None
        self._lock = threading.Lock()
        # --json too: its rows go to stdout, and progress on stderr is what README promises
        shown = not output.quiet
        self.live_enabled = shown and output.err.is_terminal
        self.plain_every = plain_every if shown and not self.live_enabled else None

    def start(self, batch: Batch, target: Any) -> None:
        self.batch = batch
        for note in target.notes:
            self.output.warn(note)

    def first_send(self, target: Any) -> None:
        with self._lock:
            for note in target.sending_notes:
                self.output.warn(note)

    def outcome(self, outcome: JobOutcome) -> None:
        with self._lock:
            if self.output.json_mode:
                self.output.json_line(outcome_json(outcome))
            elif outcome.text is not None:
                self.output.write(outcome.text)
            if outcome.state == "failed" and not self.output.json_mode and not self.live_enabled:
                self.output.failed(outcome.input, outcome.error)
            if outcome.note and outcome.note != "unchanged" and not self.output.json_mode:
                self.output.warn(f"{outcome.input}: {outcome.note}")
            if self.rows is not None:
                self.rows.append(outcome)
                if len(self.rows) > TABLE_ROWS:
                    self.rows = None

    def _renderable(self) -> Group:
        if self.batch is None:
            return Group(Text("starting…"))
        progress = self.batch.progress()
        lines: list[Any] = [Text(status_line(progress))]
        if progress.problem:
            lines.append(
                Text(f"checking for results failed, retrying: {progress.problem}", "yellow")
            )
        for failure in progress.latest_failures:
            lines.append(Text(f"  failed: {cut_middle(failure.input)}: {failure.error}", "red"))
        return Group(*lines)

    @contextlib.contextmanager
    def live(self) -> Iterator[None]:
        if self.plain_every is not None:
            with self._plain_lines(self.plain_every):
                yield
            return
        if not self.live_enabled:
            yield
            return
        with Live(
            get_renderable=self._renderable,
            console=self.output.err,
            transient=True,
            refresh_per_second=4,
            redirect_stdout=False,  # transcripts on stdout bypass the live view
        ):
            yield

    @contextlib.contextmanager
    def _plain_lines(self, every: float) -> Iterator[None]:
        """A line of counts every `every` seconds on stderr, for a log that has no live view:
        an hour's wait in CI otherwise shows nothing until the end."""
        stop = threading.Event()

        def write_lines() -> None:
            while not stop.wait(every):
                if self.batch is not None:
                    line = status_line(self.batch.progress())
                    with self._lock:
                        self.output.info(line)

        writer = threading.Thread(target=write_lines, name="progress-lines", daemon=True)
        writer.start()
        try:
            yield
        finally:
            stop.set()
            writer.join()

    def summary(self, report: BatchReport) -> None:
        out = self.output
        if out.json_mode:  # the data on stdout; the messages below still go to stderr
            out.json_line({"summary": summary_json(report)})
        if self.live_enabled:
            for failure in report.failures:
                out.failed(failure.input, failure.error)
            if report.failed > len(report.failures):
                out.info(
                    f"… and {report.failed - len(report.failures)} more failures: "
                    f"`{jobs_command(report, 'failed')}`"
                )
        # one input's transcript on stdout needs no table; a file written needs its path.
        # --quiet keeps the rows still to collect: their ids are results; failures were printed
        # by input, not by when each finished: the same batch prints the same table
        rows = sorted(
            (r for r in self.rows or () if not out.quiet or r.state == "pending"),
            key=lambda r: r.input,
        )
        wrote = any(row.output not in (None, "-") for row in rows)
        if rows and (len(rows) > 1 or not self.wait or wrote) and not out.json_mode:
            out.err.print(outcome_table(rows))
        total = report.done + report.failed + report.pending
        per_job = f" ({report.s3_requests / total:.1f} per job)" if total else ""
        throttled = f"; throttled {report.throttled}x, slowed down" if report.throttled else ""
        unsent = f", {report.not_sent} not sent" if report.not_sent else ""
        out.info(
            f"{report.done} done, {report.failed} failed, {report.pending} pending{unsent}; "
            f"{report.s3_requests} S3 requests{per_job}{throttled}; batch {report.batch}"
        )
        if report.pending and report.waited:
            why = "interrupted" if report.interrupted else "timed out"
            out.info(
                f"{why}; the jobs continue on the endpoint. {self.again} to collect "
                "them (nothing is sent twice), or fetch one later:"
            )
        elif report.pending:
            out.info("the jobs run on the endpoint; collect them later:")
        if report.pending:
            for job_id in report.pending_ids:
                out.info(f"  wasync fetch {job_id} --wait")
            if report.pending > len(report.pending_ids):
                out.info(f"  … and `{jobs_command(report, 'pending')}`")
        elif report.interrupted:
            out.info(f"interrupted; {self.again.lower()} to finish the batch")
        if report.failed_by_endpoint and not self.rerun:
            out.info(
                "a failed job stays failed when the same command runs again; to send an input "
                "again once its cause is fixed: `wasync transcribe INPUT --rerun`"
            )


def jobs_command(report: BatchReport, state: str) -> str:
    """The `wasync jobs` command that lists this run's jobs in `state`. Jobs an earlier run
    sent are recorded under that run's batch, so then it lists by state alone."""
    batch = "" if report.adopted else f" --batch {report.batch}"
    return f"wasync jobs{batch} --state {state}"


def summary_json(report: BatchReport) -> dict[str, Any]:
    return {
        "batch": report.batch,
        "done": report.done,
        "failed": report.failed,
        "pending": report.pending,
        "not_sent": report.not_sent,
        "interrupted": report.interrupted,
        "throttled": report.throttled,
        "s3_requests": report.s3_requests,
        "seconds": round(report.seconds, 3),
    }


def outcome_table(rows: Sequence[JobOutcome | JobEntry], endpoints: bool = False) -> Table:
    """One row per job: its input, state, id and result (or error), all as literal text; with
    `endpoints`, first the endpoint each was sent to (`jobs` of every endpoint)."""
    from .render import table, text

    columns: tuple[str, ...] = ("file", "state", "job", "result")
    cells: list[tuple[Any, ...]] = [
        (
            cut_middle(r.input),
            text(r.state, STATE_STYLE.get(r.state, "")),
            r.id,
            cut_middle(r.error, MOST_REASON_SHOWN) if r.error else r.output,
        )
        for r in rows
    ]
    if endpoints:
        columns = ("endpoint", *columns)
        cells = [(getattr(r, "endpoint", ""), *row) for r, row in zip(rows, cells, strict=True)]
    grid = table(columns, cells)
    grid.box = None
    # the id is what `wasync fetch` takes: other columns give way before it is cut short
    job = grid.columns[columns.index("job")]
    job.no_wrap = True
    job.min_width = max((len(r.id or "") for r in rows), default=0)
    return grid


def show_fetched(output: Output, fetched: Fetched, to_file: bool) -> None:
    """fetch's result: the transcript on stdout (or one JSON document), the failure on
    stderr; the exit code comes from the result (`context.finish`)."""
    if fetched.note:
        output.warn(fetched.note)
    if output.json_mode:
        output.json_line(fetched)
    elif fetched.text is not None:
        output.write(fetched.text)
    if fetched.state == "failed":
        output.failed(fetched.input, fetched.error)
    elif to_file:
        output.info(f"wrote {fetched.output}")
