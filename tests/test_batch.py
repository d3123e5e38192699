"""A batch against moto's S3 and a fake endpoint: results, resuming, two runs at once,
Ctrl-C at each stage, throttling, and taking over a dead run's claims."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from tests.helpers.fake_endpoint import (
    FakeEndpoint,
    NeverIdle,
    ctrl_c,
    environment,
    run,
    target,
    write_inputs,
)
from tests.helpers.metrics import put_backlog
from whisper_async.cli.job_render import status_line
from whisper_async.inputs import expand
from whisper_async.jobs.batch import Batch
from whisper_async.jobs.ownership import IdleProbe
from whisper_async.jobs.records import JobRecord, RecordStore, job_id_for
from whisper_async.jobs.request import TranscribeRequest
from whisper_async.jobs.submission import invoke, prepare


def transcripts(out: Path) -> dict[str, str]:
    return {p.stem: p.read_text().strip() for p in sorted(out.glob("*.txt"))}


def test_every_result_is_written_and_each_input_invoked_once(s3, bucket, tmp_path) -> None:
    endpoint = FakeEndpoint(s3, target(bucket))
    inputs = expand([str(p) for p in write_inputs(tmp_path / "in", 30)])
    _, report, outcomes = run(environment(s3, bucket, endpoint), inputs, tmp_path / "out")
    assert (report.done, report.failed, report.pending) == (30, 0, 0)
    assert transcripts(tmp_path / "out")["clip0007"] == "heard audio-0007"
    assert len(transcripts(tmp_path / "out")) == 30
    assert set(endpoint.invocations().values()) == {1} and len(endpoint.accepted) == 30
    assert {o.state for o in outcomes} == {"done"}
    # A claim, a result and a share of the listings per job; inline bodies need no upload.
    assert report.s3_requests == 0 or report.s3_requests <= 3 * 30


def test_a_folders_files_keep_their_subfolders_under_the_output_dir(s3, bucket, tmp_path) -> None:
    """day1/call.wav and day2/call.wav: two transcripts, neither refused nor overwritten."""
    endpoint = FakeEndpoint(s3, target(bucket))
    for day, n in (("day1", 1), ("day2/late", 2)):
        (tmp_path / "in" / day).mkdir(parents=True)
        (tmp_path / "in" / day / "call.wav").write_bytes(f"audio-{n}".encode())
    (tmp_path / "in" / "top.wav").write_bytes(b"audio-top")
    _, report, _ = run(
        environment(s3, bucket, endpoint), expand([str(tmp_path / "in")]), tmp_path / "out"
    )
    assert (report.done, report.failed) == (3, 0)
    written = {
        str(p.relative_to(tmp_path / "out")): p.read_text().strip()
        for p in (tmp_path / "out").rglob("*.txt")
    }
    assert written == {
        "day1/call.txt": "heard audio-1",
        "day2/late/call.txt": "heard audio-2",
        "top.txt": "heard audio-top",
    }


def test_two_inputs_bound_for_one_transcript_fail_the_second_and_say_what_to_give_instead(
    s3, bucket, tmp_path
) -> None:
    """day1/call.wav and day2/call.wav given as two folders under one -o, and talk.mp3 beside
    talk.m4a: the second of each fails (nothing is overwritten), naming the first and a way
    out that fits; "rename one" was poor advice for recordings that keep their names."""
    endpoint = FakeEndpoint(s3, target(bucket))
    for day in ("day1", "day2"):
        (tmp_path / "days" / day).mkdir(parents=True)
        (tmp_path / "days" / day / "call.wav").write_bytes(f"audio-{day}".encode())
    (tmp_path / "talk.mp3").write_bytes(b"audio-mp3")
    (tmp_path / "talk.m4a").write_bytes(b"audio-m4a")
    given = [str(tmp_path / "days" / "day1"), str(tmp_path / "days" / "day2")]
    inputs = expand([*given, str(tmp_path / "talk.mp3"), str(tmp_path / "talk.m4a")])
    _, report, outcomes = run(environment(s3, bucket, endpoint), inputs, tmp_path / "out")
    assert (report.done, report.failed) == (2, 2)
    failed = {o.input: o.error or "" for o in outcomes if o.state == "failed"}
    day2 = next(error for name, error in failed.items() if "day2" in name)
    assert "day1" in day2 and f"({tmp_path / 'days'})" in day2 and "-o keeps" in day2
    m4a = next(error for name, error in failed.items() if name.endswith("talk.m4a"))
    assert "talk.mp3" in m4a and "less the extension" in m4a and "--keep-extension" in m4a
    assert transcripts(tmp_path / "out") == {"talk": "heard audio-mp3", "call": "heard audio-day1"}


def test_keep_extension_gives_inputs_that_differ_by_extension_a_transcript_each(
    s3, bucket, tmp_path
) -> None:
    """talk.mp3 beside talk.m4a (a call's audio and its video): the second failed, and the
    way out was to rename one or run twice."""
    endpoint = FakeEndpoint(s3, target(bucket))
    (tmp_path / "talk.mp3").write_bytes(b"audio-mp3")
    (tmp_path / "talk.m4a").write_bytes(b"audio-m4a")
    inputs = expand([str(tmp_path / "talk.mp3"), str(tmp_path / "talk.m4a")])
    _, report, _ = run(
        environment(s3, bucket, endpoint), inputs, tmp_path / "out", keep_extension=True
    )
    assert (report.done, report.failed) == (2, 0)
    assert transcripts(tmp_path / "out") == {
        "talk.mp3": "heard audio-mp3",
        "talk.m4a": "heard audio-m4a",
    }


def test_an_input_whose_transcript_name_is_too_long_fails_before_it_is_sent(
    s3, bucket, tmp_path
) -> None:
    """A 255-byte name, `….mp3`, is a file; its `….json` is not: the row said "unexpected
    OSError" once the job had run."""
    endpoint = FakeEndpoint(s3, target(bucket))
    (tmp_path / "in").mkdir()
    long = tmp_path / "in" / ("a" * 251 + ".mp3")
    long.write_bytes(b"audio-long")
    near = tmp_path / "in" / ("b" * 236 + ".wav")  # its transcript's temporary file passed 255
    near.write_bytes(b"audio-near")
    inputs = expand([str(long), str(near), *map(str, write_inputs(tmp_path / "in", 1))])
    _, report, outcomes = run(
        environment(s3, bucket, endpoint), inputs, tmp_path / "out", fmt="json"
    )
    assert (report.done, report.failed) == (2, 1) and len(endpoint.accepted) == 2
    (failed,) = [o for o in outcomes if o.state == "failed"]
    assert "longer than file systems allow (256 bytes, at most 255)" in (failed.error or "")
    near_json = tmp_path / "out" / ("b" * 236 + ".json")
    assert "heard audio-near" in near_json.read_text()
    assert [p.name for p in (tmp_path / "out").iterdir() if p.name.startswith(".")] == []


def test_an_s3_key_whose_folder_is_too_long_for_a_name_fails_before_it_is_sent(
    s3, bucket, tmp_path
) -> None:
    """A key's folder of 300 bytes (S3 allows 1,024 for a key): the job ran, and only then
    its transcript failed with "File name too long"."""
    from whisper_async.inputs import prefix_inputs

    endpoint = FakeEndpoint(s3, target(bucket))
    keys = [f"calls/{'d' * 300}/x.wav", "calls/ok/y.wav"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=f"audio-{key[-5]}".encode())
    inputs = list(prefix_inputs(bucket, "calls/", keys))
    _, report, outcomes = run(environment(s3, bucket, endpoint), inputs, tmp_path / "out")
    assert (report.done, report.failed) == (1, 1) and len(endpoint.accepted) == 1
    (failed,) = [o for o in outcomes if o.state == "failed"]
    assert "its transcript's subfolder, 'ddd" in (failed.error or "")
    assert "longer than file systems allow (300 bytes, at most 255)" in (failed.error or "")
    assert (tmp_path / "out" / "ok" / "y.txt").read_text().strip() == "heard audio-y"


def test_a_stdin_path_too_long_to_look_at_fails_its_row_and_the_rest_are_sent(
    s3, bucket, tmp_path
) -> None:
    endpoint = FakeEndpoint(s3, target(bucket))
    (clip,) = write_inputs(tmp_path / "in", 1)
    too_long = str(tmp_path / ("a" * 300) / "x.wav")  # ENAMETOOLONG, not "no such file"
    inputs = expand(["-"], stdin_lines=[too_long, str(clip)])
    _, report, outcomes = run(environment(s3, bucket, endpoint), inputs, tmp_path / "out")
    assert (report.done, report.failed) == (1, 1)
    failed = next(o for o in outcomes if o.state == "failed")
    assert failed.error is not None and "cannot look at" in failed.error


def test_rerunning_a_finished_batch_invokes_nothing_and_keeps_the_files(
    s3, bucket, tmp_path
) -> None:
    endpoint = FakeEndpoint(s3, target(bucket))
    env = environment(s3, bucket, endpoint)
    inputs = expand([str(p) for p in write_inputs(tmp_path / "in", 10)])
    run(env, inputs, tmp_path / "out")
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "out").iterdir()}
    _, report, outcomes = run(env, inputs, tmp_path / "out")
    assert report.done == 10 and len(endpoint.accepted) == 10
    assert {o.note for o in outcomes} == {"unchanged"}
    assert before == {p: p.stat().st_mtime_ns for p in (tmp_path / "out").iterdir()}


def test_a_run_without_wait_reports_the_jobs_an_earlier_run_started_as_they_now_stand(
    s3, bucket, tmp_path
) -> None:
    # Two jobs sent without --wait, queued; then one finishes and one fails. Sent again without
    # --wait, they are found finished, not called pending; a new input is pending.
    endpoint = FakeEndpoint(s3, target(bucket), hold=True, fail_inputs=(b"audio-0001",))
    env = environment(s3, bucket, endpoint)
    paths = write_inputs(tmp_path / "in", 3)
    _, first, _ = run(env, expand([str(p) for p in paths[:2]]), tmp_path / "out", wait=False)
    assert (first.done, first.failed, first.pending) == (0, 0, 2)
    endpoint.release()
    _, again, outcomes = run(env, expand([str(p) for p in paths]), tmp_path / "out", wait=False)
    rows = {Path(o.input).name: o for o in outcomes}
    assert (again.done, again.failed, again.pending) == (1, 1, 1)
    assert again.failed_by_endpoint == 1
    assert (first.adopted, again.adopted) == (0, 2)  # the first run's batch holds their records
    done = rows["clip0000.wav"]
    assert done.state == "done" and done.output and done.output.startswith("s3://")
    assert done.note and f"wasync fetch {done.id}" in done.note
    assert rows["clip0001.wav"].state == "failed"
    assert "cannot decode the audio" in (rows["clip0001.wav"].error or "")
    assert rows["clip0002.wav"].state == "pending"
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    assert len(endpoint.accepted) == 3  # nothing was sent twice


def test_a_resumed_run_leaves_results_an_earlier_run_left_out_of_its_rate(
    s3, bucket, tmp_path
) -> None:
    """Six jobs sent without --wait finish; the same inputs and three new ones with --wait.
    The six results are read in the first seconds: counted as throughput, they made the live
    rate, and so the ETA, far too hopeful."""
    endpoint = FakeEndpoint(s3, target(bucket))
    env = environment(s3, bucket, endpoint)
    paths = write_inputs(tmp_path / "in", 9)
    run(env, expand([str(p) for p in paths[:6]]), tmp_path / "out", wait=False)
    batch, report, _ = run(env, expand([str(p) for p in paths]), tmp_path / "out")
    assert (report.done, report.adopted) == (9, 6)
    progress = batch.progress()
    assert progress.finished_before == 6
    assert f" · {3 / progress.seconds:.1f}/s" in status_line(progress)


def test_the_same_request_spelled_otherwise_is_the_same_job(s3, bucket, tmp_path) -> None:
    """`--language ' en'`, `EN` and `en` each sent the file again, all read as en; and
    `--task TRANSCRIBE` apart from no --task."""
    endpoint = FakeEndpoint(s3, target(bucket))
    env = environment(s3, bucket, endpoint)
    inputs = expand([str(p) for p in write_inputs(tmp_path / "in", 2)])
    spellings = [{"language": "en"}, {"language": " EN"}, {"language": "En", "task": "TRANSCRIBE"}]
    for index, options in enumerate(spellings):
        request = TranscribeRequest(options=options, output_dir=tmp_path / str(index))
        assert Batch(env, request).run(inputs).done == 2
    assert len(endpoint.accepted) == 2


def test_rerun_flag_starts_new_jobs(s3, bucket, tmp_path) -> None:
    endpoint = FakeEndpoint(s3, target(bucket))
    env = environment(s3, bucket, endpoint)
    inputs = expand([str(p) for p in write_inputs(tmp_path / "in", 3)])
    run(env, inputs, tmp_path / "out")
    _, report, _ = run(env, inputs, tmp_path / "out", rerun=True, overwrite=True)
    assert report.done == 3 and set(endpoint.invocations().values()) == {2}


def test_identical_inputs_share_one_job(s3, bucket, tmp_path) -> None:
    endpoint = FakeEndpoint(s3, target(bucket))
    (tmp_path / "in").mkdir()
    for name in ("a.wav", "b.wav", "c.wav"):
        (tmp_path / "in" / name).write_bytes(b"the same audio")
    _, report, _ = run(
        environment(s3, bucket, endpoint), expand([str(tmp_path / "in")]), tmp_path / "out"
    )
    assert report.done == 3 and len(endpoint.accepted) == 1
    assert set(transcripts(tmp_path / "out").values()) == {"heard the same audio"}


def test_two_runs_of_one_batch_at_once_invoke_each_input_once(s3, bucket, tmp_path) -> None:
    endpoint = FakeEndpoint(s3, target(bucket))
    inputs = expand([str(p) for p in write_inputs(tmp_path / "in", 40)])
    reports = []

    def one_run(out: str) -> None:
        reports.append(run(environment(s3, bucket, endpoint), inputs, tmp_path / out)[1])

    runs = [threading.Thread(target=one_run, args=(f"out{n}",)) for n in range(2)]
    for thread in runs:
        thread.start()
    for thread in runs:
        thread.join()
    assert [r.done for r in reports] == [40, 40]
    assert len(endpoint.accepted) == 40 and set(endpoint.invocations().values()) == {1}
    assert transcripts(tmp_path / "out0") == transcripts(tmp_path / "out1")


def test_throttling_slows_the_batch_and_fails_no_job(s3, bucket, tmp_path) -> None:
    endpoint = FakeEndpoint(s3, target(bucket), throttle_every=3)
    inputs = expand([str(p) for p in write_inputs(tmp_path / "in", 20)])
    _, report, _ = run(environment(s3, bucket, endpoint), inputs, tmp_path / "out")
    assert (report.done, report.failed) == (20, 0)
    assert report.throttled > 0 and endpoint.attempts > 20
    assert set(endpoint.invocations().values()) == {1}


def test_a_failed_job_fails_its_row_only(s3, bucket, tmp_path) -> None:
    paths = write_inputs(tmp_path / "in", 5)
    endpoint = FakeEndpoint(s3, target(bucket), fail_inputs=(paths[2].read_bytes(),))
    _, report, outcomes = run(
        environment(s3, bucket, endpoint), expand([str(tmp_path / "in")]), tmp_path / "out"
    )
    assert (report.done, report.failed) == (4, 1)
    failed = next(o for o in outcomes if o.state == "failed")
    assert failed.input.endswith("clip0002.wav") and failed.error == "cannot decode the audio"
    assert failed.id is not None
    assert failed.by_endpoint and report.failed_by_endpoint == 1  # only --rerun sends it again


def test_an_unreadable_input_and_an_unwritable_output_fail_their_rows_only(
    s3, bucket, tmp_path
) -> None:
    endpoint = FakeEndpoint(s3, target(bucket))
    paths = write_inputs(tmp_path / "in", 4)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "clip0003.txt").mkdir()  # a folder where a transcript should go
    inputs = expand([str(p) for p in paths])
    broken = type(inputs[1])(
        str(tmp_path / "in" / "vanished.wav"), path=tmp_path / "in" / "vanished.wav"
    )
    _, report, outcomes = run(
        environment(s3, bucket, endpoint), [*inputs, broken], tmp_path / "out", overwrite=True
    )
    by_input = {Path(o.input).name: o for o in outcomes}
    assert by_input["vanished.wav"].state == "failed"
    assert "cannot read" in (by_input["vanished.wav"].error or "")
    assert by_input["clip0003.wav"].state == "failed"
    assert "could not write" in (by_input["clip0003.wav"].error or "")
    assert by_input["clip0003.wav"].id  # the job id reaches the user: fetch it later
    assert report.done == 3 and report.failed_by_endpoint == 0  # --rerun would not help


def test_an_existing_unrelated_file_is_kept_and_its_input_not_sent(s3, bucket, tmp_path) -> None:
    endpoint = FakeEndpoint(s3, target(bucket))
    paths = write_inputs(tmp_path / "in", 2)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "clip0000.txt").write_text("mine")
    _, report, outcomes = run(
        environment(s3, bucket, endpoint), expand([str(p) for p in paths]), tmp_path / "out"
    )
    assert (tmp_path / "out" / "clip0000.txt").read_text() == "mine"
    failed = next(o for o in outcomes if o.state == "failed")
    assert "--overwrite" in (failed.error or "") and len(endpoint.accepted) == 1
    assert (report.done, report.failed, report.failed_by_endpoint) == (1, 1, 0)
    _, again, _ = run(
        environment(s3, bucket, endpoint),
        expand([str(p) for p in paths]),
        tmp_path / "out",
        overwrite=True,
    )
    assert again.done == 2 and (tmp_path / "out" / "clip0000.txt").read_text().startswith("heard")


@pytest.mark.parametrize("stage", ["upload", "invoke", "wait"])
def test_ctrl_c_at_each_stage_then_the_same_run_again_finishes_without_double_invocations(
    s3, bucket, tmp_path, stage
) -> None:
    size = 200_000 if stage == "upload" else 0  # past the inline limit: uploaded
    inputs = expand([str(p) for p in write_inputs(tmp_path / "in", 30, size)])
    endpoint = FakeEndpoint(s3, target(bucket), hold=stage == "wait")
    if stage == "upload":
        uploads = []

        def on_upload(**_: object) -> None:
            uploads.append(1)
            if len(uploads) == 3:
                ctrl_c()

        s3.meta.events.register("before-call.s3.PutObject", on_upload)
    elif stage == "invoke":
        endpoint.on_invoke = lambda accepted: ctrl_c() if accepted == 5 else None
    else:
        endpoint.on_invoke = lambda accepted: ctrl_c() if accepted == 30 else None
    env = environment(s3, bucket, endpoint)
    first, report, outcomes = run(env, inputs, tmp_path / "out")
    assert report.interrupted
    # In this process the interrupted run's workers outlive it (a real Ctrl-C ends them with
    # the process): wait until each has released what it claimed and never sent.
    assert first.lanes.join(timeout=120)
    pending_ids = {o.id for o in outcomes if o.state == "pending"}
    assert pending_ids <= set(endpoint.accepted)  # what is reported pending was queued
    # an input read but not sent has no row: it is counted, so the summary hides none
    rows = report.done + report.failed + report.pending
    assert rows + report.not_sent <= 30 and (report.not_sent > 0) == (stage != "wait")
    if stage == "upload":
        s3.meta.events.unregister("before-call.s3.PutObject", on_upload)
    endpoint.hold = False
    endpoint.release()
    _, again, _ = run(env, inputs, tmp_path / "out")
    assert (again.done, again.failed, again.pending) == (30, 0, 0)
    assert len(transcripts(tmp_path / "out")) == 30
    assert set(endpoint.invocations().values()) == {1}


@pytest.mark.parametrize("presses", [1, 2], ids=["ctrl-c", "ctrl-c-twice"])
def test_ctrl_c_during_slow_uploads_releases_every_claim_before_the_run_ends(
    s3, bucket, tmp_path, presses: int
) -> None:
    """Large uploads in flight (held here) and a slow S3: the claims of jobs never sent are
    released together. One after another, a dozen took longer than Ctrl-C's grace, and their
    records stayed claimed by a process that had gone: `fetch` called them pending. A second
    Ctrl-C while they were being released ended the run there, claims and summary left."""
    inputs = expand([str(p) for p in write_inputs(tmp_path / "in", 8, 200_000)])
    env = environment(s3, bucket, FakeEndpoint(s3, target(bucket)))
    held, lock, unblock = [], threading.Lock(), threading.Event()

    def hold_upload(params, **_: object) -> None:  # type: ignore[no-untyped-def]
        if "/inputs/" not in params["Key"]:
            return
        with lock:
            held.append(params["Key"])
            if len(held) == env.workers:  # every lane is uploading: press Ctrl-C
                ctrl_c()
        unblock.wait(120)

    deletes = []

    def slow_delete(**_: object) -> None:
        with lock:
            deletes.append(1)
            if presses == 2 and len(deletes) == 1:
                ctrl_c()  # impatient: again, while the first is being handled
        time.sleep(0.2)  # a loaded S3 endpoint: four in a row outlast the grace

    s3.meta.events.register("provide-client-params.s3.PutObject", hold_upload)
    s3.meta.events.register("before-call.s3.DeleteObject", slow_delete)
    try:
        first, report, _ = run(env, inputs, tmp_path / "out")
        claims = s3.list_objects_v2(Bucket=bucket, Prefix=f"{env.prefix}jobs/").get("Contents")
    finally:
        unblock.set()
    assert report.interrupted and report.not_sent >= env.workers
    assert claims is None, [c["Key"] for c in claims or []]
    assert first.lanes.join(timeout=120)
    s3.meta.events.unregister("provide-client-params.s3.PutObject", hold_upload)
    s3.meta.events.unregister("before-call.s3.DeleteObject", slow_delete)


def test_ctrl_c_while_a_throttled_request_waits_calls_nothing_pending_and_frees_its_claim(
    s3, bucket, tmp_path
) -> None:
    endpoint = FakeEndpoint(s3, target(bucket), throttle_every=1)  # refuses every request
    interrupted: list[int] = []

    def once() -> None:
        if not interrupted:
            interrupted.append(1)
            ctrl_c()

    endpoint.on_throttle = once
    env = environment(s3, bucket, endpoint)
    inputs = expand([str(p) for p in write_inputs(tmp_path / "in", 1)])
    first, report, outcomes = run(env, inputs, tmp_path / "out")
    assert report.interrupted and first.lanes.join(timeout=120)
    assert endpoint.accepted == [] and outcomes == []  # refused, so not queued: not pending
    endpoint.throttle_every = 0
    _, again, _ = run(env, inputs, tmp_path / "out")
    assert again.done == 1 and list(endpoint.invocations().values()) == [1]


def test_a_request_begun_before_ctrl_c_is_sent_not_dropped() -> None:
    # The batch marks a job maybe-queued (`begin`) and reports it pending on Ctrl-C; a cancel
    # that lands after `begin` must not stop the call, or a pending job would never run.
    cancel, sent = threading.Event(), []

    class Runtime:
        def invoke_endpoint_async(self, **params: object) -> dict[str, object]:
            sent.append(params)
            return {"InferenceId": "x"}

    assert invoke(Runtime(), {"EndpointName": "e"}, cancel, cancel.set) == {"InferenceId": "x"}
    assert len(sent) == 1


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_dead_runs_unsent_claim_is_taken_over_once_the_endpoint_is_idle(
    s3, bucket, tmp_path
) -> None:
    endpoint = FakeEndpoint(s3, target(bucket))
    idle = NeverIdle()
    env = environment(s3, bucket, endpoint, idle)
    inputs = expand([str(p) for p in write_inputs(tmp_path / "in", 3)])
    # A run that claimed the first input and died before sending it (kill -9).
    prepared = prepare(inputs[0], True, s3, threading.Event())
    job_id = job_id_for(env.target.identity, {}, prepared.content_id)
    record = Batch(env, TranscribeRequest(options={}))._new_record(job_id, prepared)
    record = replace(record, batch="dead-run", pid=dead_pid())
    assert RecordStore(s3, bucket, "wasync/").claim(record)
    outcomes = []
    request = TranscribeRequest(options={}, output_dir=tmp_path / "out", timeout=600)
    batch = Batch(env, request, outcomes.append)
    batch.orphans.every = 0.0
    done = threading.Event()
    threading.Thread(target=lambda: (batch.run(inputs), done.set()), daemon=True).start()
    # The other two finish; the claimed one waits: the endpoint might still have it queued.
    while len([o for o in outcomes if o.state == "done"]) < 2:
        done.wait(0.05)
    assert not done.is_set() and len(endpoint.accepted) == 2
    idle.idle = True  # CloudWatch now shows the queue empty after the claimer died
    assert done.wait(60)
    assert len(endpoint.accepted) == 3 and set(endpoint.invocations().values()) == {1}
    assert len(transcripts(tmp_path / "out")) == 3


def test_idle_probe_counts_only_datapoints_after_the_moment_asked(moto_clients) -> None:
    cloudwatch = moto_clients.client("cloudwatch")
    probe = IdleProbe(cloudwatch, "whisper")
    since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=10)

    put_backlog(
        cloudwatch, 0.0, since - dt.timedelta(seconds=30)
    )  # idle, but before: proves nothing
    put_backlog(cloudwatch, 4.0, since + dt.timedelta(seconds=30))
    assert not probe.idle_since(since)
    put_backlog(cloudwatch, 0.0, since + dt.timedelta(minutes=3))
    assert probe.idle_since(since)


def test_records_are_claimed_once_and_released_only_by_their_etag(s3, bucket) -> None:
    store = RecordStore(s3, bucket, "wasync/")
    record = JobRecord(
        "a" * 24, "a" * 24 + "-run", "whisper", "x.wav", "s3://b/o.out", "s3://b/f.out"
    )
    etag = store.claim(record)
    assert etag and store.claim(record) is None
    store.release(record.job_id, '"not-the-etag"')
    assert store.exists(record.job_id)
    stored = store.read(record.job_id)
    assert stored is not None and stored.record == record
    store.release(record.job_id, etag)
    assert not store.exists(record.job_id)
    assert json.loads(record.to_json())["version"] == 2


def test_inputs_that_stop_reading_part_way_fail_one_row_and_the_rest_are_collected(
    s3, bucket, tmp_path
) -> None:
    endpoint = FakeEndpoint(s3, target(bucket))
    inputs = expand([str(p) for p in write_inputs(tmp_path / "in", 3)])

    def then_broken():  # type: ignore[no-untyped-def]
        yield from inputs
        raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")

    _, report, outcomes = run(environment(s3, bucket, endpoint), then_broken(), tmp_path / "out")
    assert (report.done, report.failed) == (3, 1)
    assert any("reading the inputs stopped" in (o.error or "") for o in outcomes)


def test_a_refused_request_fails_its_row_and_a_rerun_sends_it(s3, bucket, tmp_path) -> None:
    endpoint = FakeEndpoint(s3, target(bucket), errors=[(400, "ValidationError")])
    env = environment(s3, bucket, endpoint)
    inputs = expand([str(p) for p in write_inputs(tmp_path / "in", 1)])
    _, report, outcomes = run(env, inputs, tmp_path / "out")
    assert report.failed == 1 and "ValidationError" in (outcomes[0].error or "")
    assert report.failed_by_endpoint == 0  # refused, not run: the same command sends it
    _, again, _ = run(env, inputs, tmp_path / "out")  # the claim was released: sent now
    assert again.done == 1 and len(endpoint.accepted) == 1


def test_a_request_whose_answer_was_lost_is_sent_again_only_once_the_endpoint_is_idle(
    s3, bucket, tmp_path
) -> None:
    endpoint = FakeEndpoint(s3, target(bucket), errors=[(500, "InternalFailure")])
    idle = NeverIdle()
    env = environment(s3, bucket, endpoint, idle)
    inputs = expand([str(p) for p in write_inputs(tmp_path / "in", 1)])
    outcomes: list = []
    batch = Batch(env, TranscribeRequest(options={}, output_dir=tmp_path / "out"), outcomes.append)
    batch.orphans.every = 0.0
    done = threading.Event()
    threading.Thread(target=lambda: (batch.run(inputs), done.set()), daemon=True).start()
    while endpoint.attempts < 1 or not batch.tracker.pending():  # answered 500, now waiting
        done.wait(0.05)
    assert endpoint.accepted == [] and not done.is_set()  # it may be queued: not sent again
    idle.idle = True
    assert done.wait(60)
    assert [o.state for o in outcomes] == ["done"] and len(endpoint.accepted) == 1


def test_a_job_sent_to_an_endpoint_deleted_since_is_sent_again_by_the_same_command(
    s3, bucket, tmp_path
) -> None:
    """Deleting an endpoint takes its queue; the records stay. Deployed again (the same model,
    so the same job ids), the same command sends the lost jobs again instead of waiting on
    them forever, and delivers the one that had finished."""
    inputs = expand([str(p) for p in write_inputs(tmp_path / "in", 2)])
    first = FakeEndpoint(s3, target(bucket), hold=True)
    _, report, _ = run(environment(s3, bucket, first), inputs[:1], tmp_path / "out", wait=False)
    assert report.pending == 1  # queued on the first endpoint, which is then deleted
    finished = FakeEndpoint(s3, target(bucket))
    run(environment(s3, bucket, finished), inputs[1:], tmp_path / "out", wait=False)

    made_again = dt.datetime.now(dt.timezone.utc)
    second = FakeEndpoint(s3, replace(target(bucket), created=made_again))
    _, report, outcomes = run(environment(s3, bucket, second), inputs, tmp_path / "out", timeout=60)
    assert (report.done, report.failed, report.pending) == (2, 0, 0), outcomes
    assert second.accepted == [first.accepted[0]]  # only the lost job went again
    assert transcripts(tmp_path / "out") == {
        "clip0000": "heard audio-0000",
        "clip0001": "heard audio-0001",
    }


def test_jobs_waiting_on_an_endpoint_deleted_meanwhile_fail_instead_of_waiting_out_the_timeout(  # type: ignore[no-untyped-def]
    moto_clients, s3, bucket, tmp_path, monkeypatch
) -> None:
    """SageMaker writes nothing for the jobs a deleted endpoint's queue held: `--wait` ran to
    its --timeout (an hour by default) and exited 3, as if they were still queued. The
    endpoint here is moto's, deleted once both jobs are sent; its queue is the fake's, which
    holds them for ever."""
    from whisper_async.jobs import batch as batch_module
    from whisper_async.jobs.transcribe import endpoint_gone

    monkeypatch.setattr(batch_module, "ENDPOINT_CHECK_SECONDS", 0.2)
    sagemaker = moto_clients.client("sagemaker")
    role = "arn:aws:iam::123456789012:role/wasync-sagemaker"
    sagemaker.create_model(ModelName="m", ExecutionRoleArn=role, PrimaryContainer={"Image": "i"})
    variant = {"VariantName": "AllTraffic", "ModelName": "m", "InstanceType": "ml.m5.large"}
    sagemaker.create_endpoint_config(
        EndpointConfigName="c", ProductionVariants=[{**variant, "InitialInstanceCount": 1}]
    )
    sagemaker.create_endpoint(EndpointName="whisper", EndpointConfigName="c")

    def delete_once_both_are_sent(accepted: int) -> None:
        if accepted == 2:
            sagemaker.delete_endpoint(EndpointName="whisper")

    endpoint = FakeEndpoint(s3, target(bucket), hold=True, on_invoke=delete_once_both_are_sent)
    env = replace(
        environment(s3, bucket, endpoint),
        endpoint_gone=lambda: endpoint_gone(moto_clients, endpoint.target),
    )
    inputs = expand([str(p) for p in write_inputs(tmp_path / "in", 2)])
    _, report, outcomes = run(env, inputs, tmp_path / "out", wait=True, timeout=3600)
    assert (report.done, report.failed, report.pending) == (0, 2, 0)
    assert all(
        "endpoint whisper was deleted while this job waited" in (o.error or "") for o in outcomes
    )
    assert all("will never finish" in (o.error or "") for o in outcomes)
