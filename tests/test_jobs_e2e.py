"""transcribe, fetch and jobs end to end: the CLI, the local stack, the real server and model."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import threading
from pathlib import Path

import pytest
import srt
import webvtt

from bench.metrics import reference_text, word_error_rate
from tests.helpers.waiting import wait_until

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("flags", [[], ["-o", "-"]], ids=["default", "dash-as-fetch-takes-it"])
def test_one_file_with_wait_prints_the_transcript(
    local_stack, data_dir: Path, flags: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = local_stack.cli("transcribe", str(data_dir / "en_short.wav"), "--wait", *flags)
    assert result.exit_code == 0, result.output
    assert list(tmp_path.iterdir()) == []  # no folder named `-`
    assert word_error_rate([reference_text(data_dir / "en_short.wav")], [result.stdout]) <= 0.4


def test_an_s3_prefix_sends_its_audio_objects_and_keeps_their_subfolders_under_o(
    local_stack, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Audio already in S3 (a team's bucket, not wasync's): `s3://team-audio/calls/` was
    refused with an aws-cli pipeline to paste. Without -o the current folder takes -o's
    place (both a.wav went to ./a.txt, and the second failed)."""
    from whisper_async.clients import Clients
    from whisper_async.settings import resolve

    s3 = Clients(resolve({}, local_stack.env)).client("s3")
    s3.create_bucket(Bucket="team-audio")
    for key, clip in [
        ("calls/day1/a.wav", "en_short.wav"),
        ("calls/day2/a.wav", "en_numbers.wav"),  # the same name in another folder
    ]:
        s3.put_object(Bucket="team-audio", Key=key, Body=(data_dir / clip).read_bytes())
    s3.put_object(Bucket="team-audio", Key="calls/day1/agenda.pdf", Body=b"%PDF")
    s3.put_object(Bucket="team-audio", Key="other/b.wav", Body=b"RIFF")  # not under the prefix

    out = tmp_path / "out"
    result = local_stack.cli(
        "--json", "transcribe", "s3://team-audio/calls/", "--wait", "-o", str(out)
    )

    assert result.exit_code == 0, result.output
    said = " ".join(result.stderr.split())
    assert "s3://team-audio/calls/: left out 1 file without an audio or video extension " in said
    assert "(agenda.pdf)" in said
    rows = [json.loads(line) for line in result.stdout.splitlines()][:-1]
    assert sorted(row["input"] for row in rows) == [
        "s3://team-audio/calls/day1/a.wav",
        "s3://team-audio/calls/day2/a.wav",
    ]
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.txt")) == [
        "day1/a.txt",
        "day2/a.txt",
    ]
    for folder, clip in [("day1", "en_short.wav"), ("day2", "en_numbers.wav")]:
        said = (out / folder / "a.txt").read_text()
        assert word_error_rate([reference_text(data_dir / clip)], [said]) <= 0.4, said

    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    again = local_stack.cli("transcribe", "s3://team-audio/calls/", "--wait")
    assert again.exit_code == 0, again.output
    for folder in ("day1", "day2"):
        assert (here / folder / "a.txt").read_text() == (out / folder / "a.txt").read_text()

    # On stdin a prefix that lists nothing is a failed row of its own; the rest go on
    lines = "s3://no-such-bucket-here/calls/\ns3://team-audio/nothing/\ns3://team-audio/calls/\n"
    piped = local_stack.cli("--json", "transcribe", "-", "--wait", "-o", str(out), input=lines)
    assert piped.exit_code == 1, piped.output
    rows = [json.loads(line) for line in piped.stdout.splitlines()][:-1]
    states = {row["input"]: (row["state"], row.get("error") or "") for row in rows}
    assert states["s3://team-audio/calls/day1/a.wav"][0] == "done"
    assert (
        "The bucket no-such-bucket-here does not exist"
        in states["s3://no-such-bucket-here/calls/"][1]
    )
    assert "holds no audio or video objects" in states["s3://team-audio/nothing/"][1]


def test_batch_of_twenty_writes_twenty_correct_outputs(
    local_stack, data_dir: Path, tmp_path: Path
) -> None:
    sources = ["en_short.wav", "en_numbers.wav"]
    inputs = tmp_path / "in"
    inputs.mkdir()
    for index in range(20):
        shutil.copy(data_dir / sources[index % 2], inputs / f"clip{index:02d}.wav")
    result = local_stack.cli(
        "--json",
        "transcribe",
        str(inputs),
        "--wait",
        "-o",
        str(tmp_path / "out"),
        "--concurrency",
        "6",
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    jobs, summary = lines[:-1], lines[-1]["summary"]
    assert len(jobs) == 20 and {line["state"] for line in jobs} == {"done"}
    assert summary["done"] == 20 and not summary["interrupted"]
    outputs = sorted((tmp_path / "out").glob("*.txt"))
    assert len(outputs) == 20
    references = [reference_text(data_dir / sources[i % 2]) for i in range(20)]
    assert word_error_rate(references, [p.read_text() for p in outputs]) <= 0.3


def test_rerun_finds_the_job_and_uploads_nothing(
    local_stack, data_dir: Path, tmp_path: Path
) -> None:
    from whisper_async.clients import Clients
    from whisper_async.settings import resolve

    clip = tmp_path / "long.wav"
    shutil.copy(data_dir / "en_30s.wav", clip)  # over 128,000 bytes: uploaded, not inline
    s3 = Clients(resolve({}, local_stack.env)).client("s3")
    bucket = "sagemaker-us-east-1-123456789012"

    def uploaded() -> dict[str, object]:
        listed = s3.list_objects_v2(Bucket=bucket, Prefix="wasync/inputs/").get("Contents", [])
        return {o["Key"]: o["LastModified"] for o in listed}

    first = local_stack.cli("--json", "transcribe", str(clip), "--no-inline")
    assert first.exit_code == 0, first.output
    after_first = uploaded()
    again = local_stack.cli("--json", "transcribe", str(clip), "--no-inline")
    assert again.exit_code == 0, again.output
    first_id = json.loads(first.stdout.splitlines()[0])["id"]
    assert json.loads(again.stdout.splitlines()[0])["id"] == first_id  # the same job
    assert uploaded() == after_first  # nothing uploaded again
    records = s3.list_objects_v2(Bucket=bucket, Prefix=f"wasync/jobs/{first_id}")
    assert len(records["Contents"]) == 1


def test_corrupt_file_fails_with_the_servers_message_while_the_rest_succeed(
    local_stack, data_dir: Path, tmp_path: Path
) -> None:
    result = local_stack.cli(
        "transcribe",
        str(data_dir / "en_short.wav"),
        str(data_dir / "corrupt.mp3"),
        "--wait",
        "-o",
        str(tmp_path),
    )
    assert result.exit_code == 1
    assert "corrupt.mp3: cannot decode the audio" in result.stderr
    assert "lazy dog" in (tmp_path / "en_short.txt").read_text().lower()
    assert not (tmp_path / "corrupt.txt").exists()


def test_every_object_jobs_leave_lies_where_the_iam_documents_grant(
    local_stack, data_dir: Path, tmp_path: Path
) -> None:
    from fnmatch import fnmatchcase

    from whisper_async import iam
    from whisper_async.clients import Clients
    from whisper_async.settings import resolve

    clip = tmp_path / "long.wav"
    shutil.copy(data_dir / "en_30s.wav", clip)  # uploaded to inputs/, not sent inline
    args = (str(clip), str(data_dir / "corrupt.mp3"), "--wait", "--rerun", "--no-inline")
    result = local_stack.cli("transcribe", *args, "-o", str(tmp_path / "out"))
    assert result.exit_code == 1, result.output  # the corrupt file's failure object is written
    clients = Clients(resolve({}, local_stack.env))
    docs = iam.documents(clients)
    # under wasync's prefix: other tests of the shared stack put objects elsewhere on purpose
    listed = clients.client("s3").list_objects_v2(Bucket=clients.bucket, Prefix=clients.prefix)[
        "Contents"
    ]
    keys = [f"arn:aws:s3:::{clients.bucket}/{item['Key']}" for item in listed]
    folders = {key.split("/")[2] for key in keys}
    assert {"models", "inputs", "outputs", "failures", "jobs"} <= folders, folders

    def granted(document: dict, sid: str) -> list[str]:
        entry = next(s for s in document["Statement"] if s["Sid"] == sid)
        return list(entry["Resource"])

    readable = granted(docs.user_policy, "ReadObjects")
    writable = granted(docs.user_policy, "WriteObjects")
    container = {
        "models": granted(docs.execution_policy, "ReadModelsAndInputs"),
        "inputs": granted(docs.execution_policy, "ReadModelsAndInputs"),
        "outputs": granted(docs.execution_policy, "WriteResults"),
        "failures": granted(docs.execution_policy, "WriteResults"),
    }
    for key in keys:
        folder = key.split("/")[2]
        assert any(fnmatchcase(key, pattern) for pattern in readable), key
        # the client writes all but results; results are the endpoint's alone to write
        by_user = any(fnmatchcase(key, pattern) for pattern in writable)
        assert by_user == (folder not in {"outputs", "failures"}), key
        needed = container.get(folder, [])
        assert not needed or any(fnmatchcase(key, pattern) for pattern in needed), key


def test_timeout_exits_3_and_fetch_later_completes_the_job(
    local_stack, data_dir: Path, tmp_path: Path
) -> None:
    result = local_stack.cli(
        "--json",
        "transcribe",
        str(data_dir / "en_30s.wav"),
        "--wait",
        "--rerun",  # a new job, still running when the wait ends
        "--timeout",
        "0s",
        "-o",
        str(tmp_path),
    )
    assert result.exit_code == 3, result.output
    job = json.loads(result.stdout.splitlines()[0])
    assert job["state"] == "pending"
    assert json.loads(result.stdout.splitlines()[-1])["summary"]["pending"] == 1
    assert f"wasync fetch {job['id']} --wait" in result.stderr
    fetched = local_stack.cli("fetch", job["id"], "--wait", "-o", str(tmp_path / "later.txt"))
    assert fetched.exit_code == 0, fetched.output
    assert "recognition" in (tmp_path / "later.txt").read_text().lower()


def test_fetch_from_a_fresh_process_with_only_the_id(local_stack, data_dir: Path) -> None:
    submitted = local_stack.cli("--json", "transcribe", str(data_dir / "en_numbers.wav"))
    job_id = json.loads(submitted.stdout.splitlines()[0])["id"]
    fetched = local_stack.subprocess("fetch", job_id, "--wait")
    assert fetched.returncode == 0, fetched.stderr
    assert "tomorrow" in fetched.stdout.lower()


def test_fetch_of_an_inference_id_reads_that_run_not_the_latest(
    local_stack, data_dir: Path
) -> None:
    """`--rerun` sends a job again; the record follows the latest run, and the inference id
    (`{job}-{batch}`) of an earlier run still fetches that run's own result, also where the
    job had another place in that batch (its result's name begins with the place: it read as
    pending when the first run had sent another file before it)."""
    from whisper_async.clients import Clients
    from whisper_async.settings import resolve

    runs = []
    for _ in range(2):
        sent = local_stack.cli(
            "--json", "transcribe", str(data_dir / "en_short.wav"), "--wait", "--rerun"
        )
        assert sent.exit_code == 0, sent.output
        lines = [json.loads(line) for line in sent.stdout.splitlines()]
        runs.append((lines[0]["id"], lines[-1]["summary"]["batch"]))
    (job_id, first), (same_job, latest) = runs
    assert job_id == same_job and first != latest
    s3 = Clients(resolve({}, local_stack.env)).client("s3")
    bucket = "sagemaker-us-east-1-123456789012"
    keys = [
        o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="wasync/outputs/")["Contents"]
    ]
    for key in keys:
        if f"/{latest}/" in key:
            s3.delete_object(Bucket=bucket, Key=key)  # only the first run's result is left
        elif f"/{first}/0000001-{job_id}" in key:  # as if the first run had sent 6 files before
            moved = key.replace("/0000001-", "/0000007-")
            s3.copy_object(Bucket=bucket, Key=moved, CopySource={"Bucket": bucket, "Key": key})
            s3.delete_object(Bucket=bucket, Key=key)
    fetched = local_stack.cli("fetch", f"{job_id}-{first}")
    assert fetched.exit_code == 0, fetched.output
    assert "lazy dog" in fetched.stdout.lower()
    latest_run = local_stack.cli("fetch", job_id)  # its result deleted: it reads as pending
    assert latest_run.exit_code == 3 and "still pending" in latest_run.stderr
    unknown = local_stack.cli("fetch", f"{job_id}-nope")
    assert unknown.exit_code == 1 and f"latest run is {job_id}-{latest}" in unknown.stderr
    never = local_stack.cli("fetch", f"{job_id}-20200101-000000-aaaaaa")  # a run that never was
    assert never.exit_code == 1, never.output
    assert "has not finished, or never ran" in " ".join(never.stderr.split())


def test_every_format_through_fetch(local_stack, data_dir: Path) -> None:
    submitted = local_stack.cli(
        "--json", "transcribe", str(data_dir / "en_short.wav"), "--wait", "-f", "json"
    )
    job_id = json.loads(submitted.stdout.splitlines()[0])["id"]
    outputs = {
        fmt: local_stack.cli("fetch", job_id, "-f", fmt).stdout
        for fmt in ("json", "txt", "srt", "vtt", "tsv")
    }
    assert json.loads(outputs["json"])["language"] == "en"
    assert "lazy dog" in outputs["txt"].lower()
    assert "lazy dog" in next(srt.parse(outputs["srt"])).content.lower()
    assert "lazy dog" in webvtt.from_buffer(io.StringIO(outputs["vtt"]))[0].text.lower()
    assert outputs["tsv"].startswith("start\tend\ttext\n")


def test_batch_size_reaches_the_engine_and_a_bad_one_exits_2(local_stack, data_dir: Path) -> None:
    clip = str(data_dir / "en_30s.wav")
    decoded = {
        flags: json.loads(
            local_stack.cli("transcribe", clip, "--wait", "-f", "json", *flags).stdout
        )
        for flags in [(), ("--batch-size", "1"), ("--batch-size", "8")]
    }
    # 31 s: over one window, so the default takes the batched path (a batch of 2 on CPU).
    assert decoded[()]["batch_size"] == 2
    assert decoded[("--batch-size", "1")]["batch_size"] == 1  # sequential windows
    assert decoded[("--batch-size", "8")]["batch_size"] == 8
    reference = reference_text(data_dir / "en_30s.wav")
    for result in decoded.values():
        assert word_error_rate([reference], [result["text"]]) <= 0.3
    refused = local_stack.cli("transcribe", clip, "--batch-size", "0")
    assert refused.exit_code == 2
    assert "batch_size=0 is out of range; allowed 1 to 128" in refused.output


def test_paths_from_stdin(local_stack, data_dir: Path, tmp_path: Path) -> None:
    paths = f"{data_dir / 'en_short.wav'}\n{data_dir / 'en_numbers.wav'}\n"
    result = local_stack.cli("transcribe", "-", "--wait", "-o", str(tmp_path), input=paths)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["en_numbers.txt", "en_short.txt"]


def test_existing_output_is_kept_without_overwrite(
    local_stack, data_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "en_short.txt").write_text("mine")
    result = local_stack.cli(
        "transcribe",
        str(data_dir / "en_short.wav"),
        str(data_dir / "en_numbers.wav"),
        "--wait",
        "-o",
        str(tmp_path),
    )
    assert result.exit_code == 1  # that input's row fails; the other is written
    # Refused before sending it, or (when an earlier test already ran this job) at writing.
    assert "en_short.txt already exists" in result.stderr and "pass --overwrite" in result.stderr
    assert (tmp_path / "en_short.txt").read_text() == "mine"
    assert "tomorrow" in (tmp_path / "en_numbers.txt").read_text().lower()


def test_an_input_is_never_replaced_by_a_transcript(
    local_stack, data_dir: Path, tmp_path: Path
) -> None:
    """Audio named talk.txt is its own destination; audio named notes.txt is notes.wav's.
    With --overwrite, both recordings were replaced by transcripts (and notes.wav's job ran,
    to be refused only when its transcript came back)."""
    audio = (data_dir / "en_short.wav").read_bytes()
    for name in ("talk.txt", "notes.txt", "notes.wav"):
        (tmp_path / name).write_bytes(audio)
    talk, notes, notes_wav = (str(tmp_path / n) for n in ("talk.txt", "notes.txt", "notes.wav"))
    result = local_stack.cli("transcribe", talk, notes_wav, "--wait", "--overwrite")
    assert result.exit_code == 1, result.output
    assert f"its transcript would be written over the input itself ({talk})" in result.stderr
    assert f"{notes} holds binary data (audio or video?)" in result.stderr
    assert (tmp_path / "talk.txt").read_bytes() == audio
    assert (tmp_path / "notes.txt").read_bytes() == audio
    listed = local_stack.cli("--json", "jobs", "--since", "1h").stdout.splitlines()
    sent = {json.loads(line)["input"] for line in listed}
    assert not sent & {talk, notes_wav}  # refused before its job ran, not when written


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_link_in_an_input_folder_is_not_written_through(
    local_stack, data_dir: Path, tmp_path: Path, overwrite: bool
) -> None:
    """Whoever can add files to a folder being transcribed could plant meeting.txt as a link
    to ~/.profile: dangling, it would be created; with --overwrite, an existing one replaced."""
    drop, home = tmp_path / "drop", tmp_path / "home"
    drop.mkdir()
    home.mkdir()
    shutil.copy(data_dir / "en_short.wav", drop / "meeting.wav")
    profile = home / ".profile"
    if overwrite:
        profile.write_text("mine")
    (drop / "meeting.txt").symlink_to(profile)
    result = local_stack.cli(
        "transcribe", str(drop), "--wait", *(["--overwrite"] if overwrite else [])
    )
    assert result.exit_code == 1, result.output
    assert "meeting.txt is a symbolic link" in result.stderr
    assert "-o" in result.stderr  # what to do instead
    assert (profile.read_text() == "mine") if overwrite else not profile.exists()
    assert (drop / "meeting.txt").is_symlink()


def test_a_linked_subfolder_of_the_output_folder_is_not_written_through(
    local_stack, data_dir: Path, tmp_path: Path
) -> None:
    """-o keeps the input's subfolders; one that is a link in the output folder would carry
    the transcript out of it."""
    talks, out, home = tmp_path / "talks", tmp_path / "out", tmp_path / "home"
    (talks / "day1").mkdir(parents=True)
    out.mkdir()
    home.mkdir()
    shutil.copy(data_dir / "en_short.wav", talks / "day1" / "meeting.wav")
    (out / "day1").symlink_to(home)
    result = local_stack.cli("transcribe", str(talks), "-o", str(out), "--wait")
    assert result.exit_code == 1, result.output
    assert "day1 is a symbolic link" in result.stderr
    assert "write elsewhere with another -o" in result.stderr  # -o is already given
    assert list(home.iterdir()) == []


def test_jobs_lists_recent_jobs_with_state(local_stack, data_dir: Path) -> None:
    local_stack.cli("transcribe", str(data_dir / "corrupt.mp3"), "--wait")
    listed = local_stack.cli("--json", "jobs", "--since", "1h", "--state", "failed")
    jobs = [json.loads(line) for line in listed.stdout.splitlines()]  # JSON lines
    assert jobs and all(j["state"] == "failed" for j in jobs)
    assert any(j["input"].endswith("corrupt.mp3") and "decode" in j["error"] for j in jobs)


def test_unknown_endpoint_is_refused_before_any_upload(local_stack, data_dir: Path) -> None:
    result = local_stack.cli("-e", "nope", "transcribe", str(data_dir / "en_short.wav"))
    assert result.exit_code == 1
    assert "Endpoint nope does not exist" in result.stderr


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (("--language", "de"), "language='de' needs a multilingual model; the model endpoint"),
        (("--task", "translate"), "task=translate needs a multilingual model; the model end"),
    ],
)
def test_a_language_the_english_only_model_cannot_serve_is_refused_before_any_upload(
    local_stack, data_dir: Path, tmp_path: Path, options: tuple[str, str], said: str
) -> None:
    """tiny.en with --language de: each file was uploaded and sent, then failed at the server
    with the same reason, one by one."""
    from whisper_async.clients import Clients
    from whisper_async.settings import resolve

    clip = tmp_path / "long.wav"
    clip.write_bytes((data_dir / "en_30s.wav").read_bytes() + options[1].encode())  # its own key
    s3 = Clients(resolve({}, local_stack.env)).client("s3")
    key = f"wasync/inputs/{hashlib.sha256(clip.read_bytes()).hexdigest()}.wav"

    result = local_stack.cli("transcribe", str(clip), *options, "--no-inline", "--wait")

    assert result.exit_code == 2, result.output
    assert said in result.stderr and "nothing was sent" in result.stderr
    assert "Traceback" not in result.output
    listed = s3.list_objects_v2(Bucket="sagemaker-us-east-1-123456789012", Prefix=key)
    assert listed.get("KeyCount", 0) == 0
    assert not clip.with_suffix(".txt").exists()


@pytest.mark.parametrize("stop", ["SIGINT", "SIGTERM"])  # Ctrl-C; timeout, docker stop, systemd
def test_ctrl_c_stops_waiting_and_says_how_to_fetch(
    local_stack, data_dir: Path, tmp_path: Path, stop: str
) -> None:
    import os
    import signal
    import subprocess
    import sys

    import httpx

    from bench.corpus import build

    long_clip = build(tmp_path / "clips", long_repeats=10)[-1]  # 5 minutes: still running at Ctrl-C
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "whisper_async",
            "transcribe",
            str(long_clip),
            "--wait",
            "--rerun",
            "-o",
            str(tmp_path),
        ],
        env={**os.environ, **local_stack.env},
        stderr=subprocess.PIPE,
        text=True,
    )
    status_url = local_stack.env["AWS_ENDPOINT_URL_SAGEMAKER"] + "/_wasync/status"
    waiting = threading.Event()
    while not any(e["running"] for e in httpx.get(status_url, timeout=10).json()["endpoints"]):
        assert process.poll() is None
        waiting.wait(0.05)
    process.send_signal(getattr(signal, stop))
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "interrupted; the jobs continue on the endpoint" in stderr
    job_id = stderr.split("wasync fetch ")[1].split()[0]
    fetched = local_stack.cli("fetch", job_id, "--wait", "-f", "txt")
    assert fetched.exit_code == 0 and "recognition" in fetched.stdout.lower()


def test_ctrl_c_during_an_upload_aborts_its_multipart_upload(local_stack, tmp_path: Path) -> None:
    """An interrupted upload left its parts in the bucket: s3transfer aborts only once the
    part in flight is answered, after the process had exited."""
    import os
    import signal
    import subprocess
    import sys
    import wave

    from whisper_async.clients import Clients
    from whisper_async.settings import resolve

    big = tmp_path / "big.wav"  # noise, new bytes each run: 6 parts of 16 MB to upload
    with wave.open(str(big), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(48000)
        out.writeframes(os.urandom(96 * 1024 * 1024))
    key = f"wasync/inputs/{hashlib.sha256(big.read_bytes()).hexdigest()}.wav"
    s3 = local_stack.boto3_client("s3")
    bucket = Clients(resolve({}, local_stack.env)).bucket

    def ours() -> list[str]:
        listed = s3.list_multipart_uploads(Bucket=bucket, Prefix=key).get("Uploads", [])
        return [upload["UploadId"] for upload in listed]

    process = subprocess.Popen(
        [sys.executable, "-m", "whisper_async", "transcribe", str(big), "--wait",
         "-o", str(tmp_path / "out")],
        env={**os.environ, **local_stack.env},
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    pause = threading.Event()
    while not ours():  # the upload has begun
        assert process.poll() is None, process.communicate()[1]
        pause.wait(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    # the abort was sent before the exit; the stack may answer it a little later
    wait_until(lambda: not ours(), "the interrupted upload's parts to leave the bucket")


@pytest.mark.parametrize(
    ("clip", "exit_code", "expected"),
    [("en_numbers.wav", 0, "tomorrow"), ("corrupt.mp3", 1, "cannot decode")],
)
def test_fetch_wait_of_a_request_another_client_sent(
    local_stack, data_dir: Path, clip: str, exit_code: int, expected: str
) -> None:
    """A request sent without wasync (as the AWS CLI or the SDK would) has no job record:
    `fetch OUTPUT --wait` waits for its result, or for its failure beside it under the
    endpoint's S3FailurePath, and says which."""
    runtime = local_stack.boto3_client("sagemaker-runtime")
    sent = runtime.invoke_endpoint_async(
        EndpointName="whisper",
        InputLocation=_uploaded(local_stack, data_dir / clip),
        ContentType="application/octet-stream",
    )
    fetched = local_stack.subprocess("fetch", sent["OutputLocation"], "--wait")
    assert fetched.returncode == exit_code, fetched.stderr
    assert expected in (fetched.stdout + fetched.stderr).lower()


def _uploaded(stack, path: Path) -> str:  # type: ignore[no-untyped-def]
    from whisper_async.clients import Clients
    from whisper_async.settings import resolve

    bucket = Clients(resolve({}, stack.env)).bucket
    key = f"other-client/{path.name}"
    stack.boto3_client("s3").upload_file(str(path), bucket, key)
    return f"s3://{bucket}/{key}"


def test_a_result_another_request_wrote_under_the_jobs_key_is_refused(
    local_stack, data_dir: Path
) -> None:
    """An attack trial overwrote a finished transcript: whoever may invoke the endpoint can
    name any job's key (S3OutputPathExtension and Filename). The server states the hash of the
    audio it heard, and fetch refuses a result of other audio. On an endpoint of its own: the
    forged result would otherwise meet the next test that sends the same file."""
    from whisper_async.clients import Clients
    from whisper_async.settings import resolve

    with local_stack.own_endpoint() as endpoint:
        sent = local_stack.cli(
            "-e", endpoint, "--json", "transcribe", str(data_dir / "en_short.wav"), "--wait"
        )
        assert sent.exit_code == 0, sent.output
        job_id = json.loads(sent.stdout.splitlines()[0])["id"]
        s3 = Clients(resolve({}, local_stack.env)).client("s3")
        bucket = "sagemaker-us-east-1-123456789012"
        sagemaker = local_stack.boto3_client("sagemaker")
        config = sagemaker.describe_endpoint_config(
            EndpointConfigName=sagemaker.describe_endpoint(EndpointName=endpoint)[
                "EndpointConfigName"
            ]
        )
        output_path = config["AsyncInferenceConfig"]["OutputConfig"]["S3OutputPath"]
        prefix = output_path.removeprefix(f"s3://{bucket}/").rstrip("/") + "/"
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]
        key = next(o["Key"] for o in listed if job_id in o["Key"])
        extension, filename = key.removeprefix(prefix).rsplit("/", 1)
        before = s3.head_object(Bucket=bucket, Key=key)["ETag"]
        s3.upload_file(str(data_dir / "en_numbers.wav"), bucket, "elsewhere/other.wav")
        local_stack.boto3_client("sagemaker-runtime").invoke_endpoint_async(
            EndpointName=endpoint,
            InputLocation=f"s3://{bucket}/elsewhere/other.wav",
            S3OutputPathExtension=extension,
            Filename=filename.removesuffix(".out"),
        )
        wait_until(
            lambda: s3.head_object(Bucket=bucket, Key=key)["ETag"] != before,
            "the other audio's transcript written under the job's key",
        )
        fetched = local_stack.cli("-e", endpoint, "fetch", job_id)
        assert fetched.exit_code == 1, fetched.output
        assert "transcript of other audio" in " ".join(fetched.stderr.split())
        assert "tomorrow" not in fetched.stdout.lower()


def test_delete_warns_of_jobs_sent_seconds_before(local_stack, tmp_path: Path) -> None:
    """CloudWatch's backlog comes minutes late: `delete --yes` seconds after a transcribe said
    nothing, and the job it failed was lost unsaid (a stranger's trial)."""
    from bench.corpus import build

    long_clip = build(tmp_path / "clips", long_repeats=4)[-1]  # still queued or running
    with local_stack.own_endpoint() as name:
        sent = local_stack.cli("-e", name, "--json", "transcribe", str(long_clip), "--rerun")
        assert sent.exit_code == 0, sent.output
        batch = json.loads(sent.stdout.splitlines()[-1])["summary"]["batch"]
        planned = local_stack.cli("-e", name, "--json", "delete", "--dry-run")
        assert json.loads(planned.stdout)["sent_since"] == [batch], planned.output
        deleted = local_stack.cli("-e", name, "delete", "--yes")
        assert deleted.exit_code == 0, deleted.output
        said = " ".join(deleted.stderr.split())
        assert f"1 transcribe run(s) sent {name} jobs" in said and batch in said, said
        assert "any still queued or running are lost" in said
