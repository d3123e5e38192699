"""Without a terminal (a log file, CI), a batch shows a line of counts now and then instead of
the live view: an hour's `transcribe --wait` would otherwise print nothing until the end."""

from __future__ import annotations

import io
import threading
from typing import Any

from tests.helpers.processes import wait_until
from whisper_async.cli.job_render import BatchView
from whisper_async.cli.render import Output
from whisper_async.jobs import Progress


class CountingBatch:
    """A batch whose progress moves on each time it is read."""

    def __init__(self) -> None:
        self.reads = 0
        self.lock = threading.Lock()

    def progress(self) -> Progress:
        with self.lock:
            self.reads += 1
            done = self.reads
        return Progress(
            read=10, submitted=10, adopted=0, done=done, failed=0, pending=10 - done,
            throttled=0, waiting=10 - done, seconds=float(done), finished_before=0,
            inputs_done=True,
            latest_failures=(), problem=None,
        )  # fmt: skip


def view(stderr: io.StringIO, **options: Any) -> BatchView:
    batch_view = BatchView(Output(stderr=stderr, **options), wait=True, plain_every=0.01)
    batch_view.batch = CountingBatch()  # type: ignore[assignment]  # what the view reads
    return batch_view


def test_a_log_gets_lines_of_counts_while_the_batch_runs() -> None:
    stderr = io.StringIO()
    batch_view = view(stderr)
    assert not batch_view.live_enabled  # a StringIO is no terminal
    with batch_view.live():
        wait_until(lambda: stderr.getvalue().count("\n") >= 2, "two progress lines")
    lines = stderr.getvalue().splitlines()
    assert lines[0].startswith("read 10 · sent 10 · done 1")
    assert "done 2" in lines[1]


def test_a_quiet_run_gets_no_lines() -> None:
    batch_view = view(io.StringIO(), quiet=True)
    assert batch_view.plain_every is None and not batch_view.live_enabled


def test_a_json_run_gets_its_lines_on_stderr_and_only_rows_on_stdout() -> None:
    """README: under --json, messages and progress go to stderr (a trial's 4-minute run
    printed none)."""
    stdout, stderr = io.StringIO(), io.StringIO()
    batch_view = view(stderr, json_mode=True, stdout=stdout)
    with batch_view.live():
        wait_until(lambda: stderr.getvalue().count("\n") >= 1, "a progress line")
    assert stderr.getvalue().startswith("read 10 · sent 10 · done")
    assert stdout.getvalue() == ""


def test_one_input_written_to_a_file_is_named_at_the_end() -> None:
    """`transcribe talk.wav --wait -o out/`: the summary says where the transcript went."""
    from whisper_async.jobs.outcomes import BatchReport, JobOutcome

    stderr = io.StringIO()
    batch_view = view(stderr)
    batch_view.outcome(JobOutcome("a" * 24, "talk.wav", "done", output="/data/out/talk.txt"))
    batch_view.summary(BatchReport("batch-1", done=1))
    assert "/data/out/talk.txt" in stderr.getvalue(), stderr.getvalue()


def test_an_interrupted_rerun_points_back_without_rerun() -> None:
    """Running `transcribe --rerun` again sends every job again: the hint must not say so."""
    from whisper_async.jobs.outcomes import BatchReport

    for rerun, hint in ((False, "Re-run the same command"), (True, "without --rerun")):
        stderr = io.StringIO()
        batch_view = BatchView(Output(stderr=stderr), wait=True, rerun=rerun)
        report = BatchReport("batch-1", pending=1, interrupted=True, pending_ids=["a" * 24])
        batch_view.summary(report)
        assert hint in stderr.getvalue(), stderr.getvalue()
        assert f"wasync fetch {'a' * 24} --wait" in stderr.getvalue()


def test_quiet_leaves_out_the_table_but_not_the_ids_still_to_fetch() -> None:
    from whisper_async.jobs.outcomes import BatchReport, JobOutcome

    stderr = io.StringIO()
    batch_view = BatchView(Output(stderr=stderr, quiet=True), wait=False)
    batch_view.outcome(JobOutcome("a" * 24, "done.wav", "done", output="/out/done.txt"))
    batch_view.outcome(JobOutcome("b" * 24, "queued.wav", "pending"))
    batch_view.summary(BatchReport("batch-1", done=1, pending=1, waited=False))
    assert "b" * 24 in stderr.getvalue() and "queued.wav" in stderr.getvalue()
    assert "done.wav" not in stderr.getvalue()


def test_only_a_job_the_endpoint_failed_is_pointed_to_rerun() -> None:
    """A row that failed here (a file in the way, an empty input) was never sent, or its job
    finished: `--rerun` would pay for the job again or be refused. Only the endpoint's
    failures stay failed on the same command."""
    from whisper_async.jobs.outcomes import BatchReport

    for by_endpoint, hinted in ((0, False), (1, True)):
        stderr = io.StringIO()
        report = BatchReport("batch-1", failed=2, failed_by_endpoint=by_endpoint)
        BatchView(Output(stderr=stderr), wait=True).summary(report)
        assert ("`wasync transcribe INPUT --rerun`" in stderr.getvalue()) is hinted


def test_the_jobs_still_pending_are_listed_by_the_batch_that_sent_them() -> None:
    """A second run that waits on jobs the first one sent: those records are under the first
    run's batch, so `jobs --batch <this run>` would answer "no jobs"."""
    from whisper_async.jobs.outcomes import BatchReport

    ids = [f"{n:024d}" for n in range(30)]
    for adopted, command in (
        (0, "wasync jobs --batch b2 --state pending"),
        (30, "wasync jobs --state pending"),
    ):
        stderr = io.StringIO()
        report = BatchReport("b2", pending=30, pending_ids=ids[:20], adopted=adopted)
        BatchView(Output(stderr=stderr), wait=True).summary(report)
        assert f"`{command}`" in stderr.getvalue(), stderr.getvalue()


def test_the_table_lists_inputs_in_order_not_as_they_finished() -> None:
    from whisper_async.jobs.outcomes import BatchReport, JobOutcome

    stderr = io.StringIO()
    batch_view = BatchView(Output(stderr=stderr), wait=True)
    for name in ("c.wav", "a.wav", "b.wav"):  # the order the jobs finished in
        batch_view.outcome(JobOutcome(name[0] * 24, name, "done", output=f"/out/{name}.txt"))
    batch_view.summary(BatchReport("batch-1", done=3))
    shown = stderr.getvalue()
    assert shown.index("a.wav") < shown.index("b.wav") < shown.index("c.wav"), shown


def test_a_name_of_any_length_is_shown_with_its_middle_left_out() -> None:
    """A 100,000-character line on stdin was printed whole in the failure line and the table:
    225 KB of output for one input."""
    from whisper_async.jobs.outcomes import BatchReport, JobOutcome

    name = "/recordings/" + "x" * 100_000 + "/talk.wav"
    failure = JobOutcome(None, name, "failed", error=f"cannot look at {name}: name too long")
    stderr = io.StringIO()
    batch_view = BatchView(Output(stderr=stderr), wait=True)
    batch_view.outcome(failure)
    batch_view.output.failed(failure.input, failure.error)
    batch_view.summary(BatchReport("batch-1", failed=1))
    shown = stderr.getvalue()
    assert len(shown) < 10_000, len(shown)
    assert "/recordings/xxx" in shown and "…" in shown and "name too long" in shown


def test_a_log_gets_no_blank_line_from_a_bar_or_live_line_it_cannot_draw() -> None:
    """Off a terminal rich draws a transient bar only at its end, as a blank line: push-model's
    output in a log had one between its two lines."""
    stderr = io.StringIO()
    output = Output(stderr=stderr)
    output.info("before")
    with output.transfer_progress() as bar:
        bar.update(bar.add_task("model.tar.gz", total=10), completed=10)
    with output.live_line() as update:
        update("waiting for InService")
    output.info("after")
    assert stderr.getvalue().splitlines() == ["before", "after"]
