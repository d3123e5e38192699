"""transcribe, fetch and jobs at the command line, against moto: data safety, clear errors and
exit codes (issue 12 §6-8, 11, 12; issue 17 §3). Each case reproduces an attack or a misuse
first, then checks the exit code, the message, and that no data was lost or replaced."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from whisper_async.cli.app import app
from whisper_async.files import replace_in_folder, write_atomically
from whisper_async.jobs.records import JobRecord, RecordStore

SRT = "1\n00:00:00,000 --> 00:00:01,500\nHello there.\n\n2\n00:00:01,500 --> 00:00:03,000\nGeneral Kenobi.\n\n"
RESULT = {
    "text": "Hello there.",
    "language": "en",
    "segments": [{"id": 0, "start": 0.0, "end": 1.5, "text": " Hello there."}],
}


def cli(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def put_job(
    s3,  # type: ignore[no-untyped-def]
    bucket: str,
    job_id: str,
    result: bytes | None = None,
    failure: bytes | None = None,
    content_type: str = "application/json",
    source: str = "talk.wav",
    endpoint: str = "whisper",
) -> JobRecord:
    name = f"0000001-{job_id}"
    record = JobRecord(
        job_id=job_id,
        inference_id=f"{job_id}-run",
        endpoint=endpoint,
        source=source,
        output_location=f"s3://{bucket}/wasync/outputs/whisper/run/{name}.out",
        failure_location=f"s3://{bucket}/wasync/failures/whisper/run/{name}-error.out",
        format="txt",
    )
    RecordStore(s3, bucket, "wasync/").claim(record)
    for body, location in ((result, record.output_location), (failure, record.failure_location)):
        if body is not None:
            key = location.split("/", 3)[3]
            s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
    return record


@pytest.fixture
def done_job(s3, bucket) -> JobRecord:  # type: ignore[no-untyped-def]
    return put_job(s3, bucket, "a" * 24, result=json.dumps(RESULT).encode())


@pytest.fixture
def umask() -> Iterator[None]:
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_fetch_takes_an_id_in_capitals_and_says_when_a_prefix_matches_nothing(done_job) -> None:
    """An id pasted upper-cased was "No job"; a prefix that matched nothing read as a whole id."""
    upper = cli("fetch", done_job.job_id.upper()[:10])
    assert upper.exit_code == 0 and upper.stdout == "Hello there.\n", upper.output
    nothing = cli("fetch", "000000")
    assert nothing.exit_code == 1, nothing.output
    assert "No job id begins with 000000 under s3://" in " ".join(nothing.stderr.split())


# ---- fetch -o: never replace what it should not (issue 12 §6) ---------------------------------
def test_fetch_refuses_an_existing_file_without_overwrite(done_job, tmp_path) -> None:
    target = tmp_path / "mine.txt"
    target.write_text("my notes")
    result = cli("fetch", done_job.job_id, "-o", str(target))
    assert result.exit_code == 2, result.output
    assert "already exists" in result.stderr and "--overwrite" in result.stderr
    assert target.read_text() == "my notes"


def test_fetch_overwrite_replaces_the_file_and_keeps_its_mode(done_job, tmp_path, umask) -> None:
    target = tmp_path / "shared.txt"
    target.write_text("old")
    target.chmod(0o640)
    result = cli("fetch", done_job.job_id, "-o", str(target), "--overwrite")
    assert result.exit_code == 0, result.output
    assert target.read_text() == "Hello there.\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


@pytest.mark.parametrize("codec", ["pcm_s16le", "pcm_mulaw-silence", "mp3"])
def test_fetch_overwrite_never_replaces_audio(done_job, tmp_path, codec: str) -> None:
    """`fetch ID -o talk.wav --overwrite` (a slip of the extension) replaced the recording;
    quiet mu-law audio is mostly high bytes, as text in a legacy encoding is."""
    recording = tmp_path / "talk.wav"
    source = ["-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono" if "silence" in codec else "sine"]
    encoder = codec.removesuffix("-silence")
    command = ["ffmpeg", "-v", "error", *source, "-t", "3", "-c:a", encoder, "-f", "wav"]
    subprocess.run([*command, str(recording)], check=True)
    original = recording.read_bytes()
    result = cli("fetch", done_job.job_id, "-o", str(recording), "--overwrite")
    assert result.exit_code == 2, result.output
    assert "holds binary data (audio or video?), not a transcript" in result.stderr
    assert recording.read_bytes() == original


def test_fetch_to_a_path_ending_in_a_slash_is_refused_not_made_a_file(done_job, tmp_path) -> None:
    """`-o newdir/` wrote a file named newdir and said so."""
    result = cli("fetch", done_job.job_id, "-o", f"{tmp_path}/newdir/")
    assert result.exit_code == 2, result.output
    assert "names a folder; -o takes a file" in result.stderr
    assert not (tmp_path / "newdir").exists()


def test_fetch_writes_through_a_symlink(done_job, tmp_path) -> None:
    real = tmp_path / "real.txt"
    real.write_text("old")
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    result = cli("fetch", done_job.job_id, "-o", str(link), "--overwrite")
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and real.read_text() == "Hello there.\n"


def test_fetch_refuses_a_link_to_nothing_without_overwrite(done_job, tmp_path) -> None:
    """A link to a file that does not exist was written through: a forged result planted as
    `shared/talk.txt -> ~/.ssh/authorized_keys` became that file (an attack trial)."""
    victim = tmp_path / "home" / "authorized_keys"
    victim.parent.mkdir()
    link = tmp_path / "talk.txt"
    link.symlink_to(victim)
    refused = cli("fetch", done_job.job_id, "-o", str(link))
    assert refused.exit_code == 2, refused.output
    assert "which does not exist" in refused.stderr and "--overwrite" in refused.stderr
    assert not victim.exists() and link.is_symlink()
    meant = cli("fetch", done_job.job_id, "-o", str(link), "--overwrite")
    assert meant.exit_code == 0, meant.output
    assert victim.read_text() == "Hello there.\n"


def test_a_file_made_while_the_result_was_awaited_is_left_alone(tmp_path) -> None:
    """The check before the wait is not enough: whatever takes the name by the write, a link
    to nothing too, stays as it is without --overwrite."""
    mine = tmp_path / "mine.txt"
    mine.write_text("my notes")
    with pytest.raises(FileExistsError):
        write_atomically(mine, "transcript", replace=False)
    assert mine.read_text() == "my notes"
    dangling = tmp_path / "dangling.txt"
    dangling.symlink_to(tmp_path / "nowhere")
    with pytest.raises(FileExistsError):
        write_atomically(dangling, "transcript", replace=False)
    assert not (tmp_path / "nowhere").exists()
    folder = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with pytest.raises(FileExistsError):  # taken after the name was checked
            replace_in_folder(folder, "mine.txt", "transcript", replace=False)
        replace_in_folder(folder, "new.txt", "transcript", replace=False)
    finally:
        os.close(folder)
    assert mine.read_text() == "my notes" and (tmp_path / "new.txt").read_text() == "transcript"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dangling.txt", "mine.txt", "new.txt"]


def test_fetch_to_dash_is_stdout_and_to_an_unwritable_folder_exits_2(done_job) -> None:
    to_stdout = cli("fetch", done_job.job_id, "-o", "-")
    assert to_stdout.exit_code == 0 and to_stdout.stdout == "Hello there.\n", to_stdout.output
    assert "wrote" not in to_stdout.stderr  # it printed "wrote None"
    assert not Path("-").exists()
    unwritable = cli("fetch", done_job.job_id, "-o", "/proc/talk.srt")
    assert unwritable.exit_code == 2, unwritable.output
    assert "cannot write /proc/talk.srt" in unwritable.stderr
    assert "unexpected" not in unwritable.output


def test_fetch_takes_the_format_from_the_output_files_extension(done_job, tmp_path) -> None:
    """A job sent as txt, fetched to talk.srt: subtitles, not plain text under an srt name."""
    subtitles = tmp_path / "talk.SRT"
    matching = cli("fetch", done_job.job_id, "-o", str(subtitles))
    assert matching.exit_code == 0 and "holds" not in matching.stderr
    assert subtitles.read_text() == "1\n00:00:00,000 --> 00:00:01,500\nHello there.\n\n"
    asked = tmp_path / "talk.srt"
    forced = cli("fetch", done_job.job_id, "-o", str(asked), "-f", "vtt")
    assert forced.exit_code == 0
    assert asked.read_text().startswith("WEBVTT")  # -f, when given, decides
    # and it is said, not found later (rich may wrap the line)
    assert f"{asked} holds vtt, not srt" in " ".join(forced.stderr.split())
    plain = tmp_path / "talk.transcript"
    unnamed = cli("fetch", done_job.job_id, "-o", str(plain))
    assert unnamed.exit_code == 0
    assert plain.read_text() == "Hello there.\n"  # no format in the name: the job's
    assert f"{plain} holds txt (its extension names no format" in " ".join(unnamed.stderr.split())


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_fetch_refuses_a_special_file_even_with_overwrite(done_job, tmp_path, kind) -> None:
    target = tmp_path / "special"
    if kind == "fifo":
        os.mkfifo(target)
    else:
        target.mkdir()
    result = cli("fetch", done_job.job_id, "-o", str(target), "--overwrite")
    assert result.exit_code == 2, result.output
    assert "not a regular file" in result.stderr
    assert stat.S_ISFIFO(target.stat().st_mode) if kind == "fifo" else target.is_dir()


OLD_TRANSCRIPTS = {
    "utf-8": "Caf\u00e9 \u201cnotes\u201d, line one.\r\nLine two.\r\n".encode(),
    "latin-1": "Caf\u00e9 \u00abnotes\u00bb, line one.\r\n".encode("latin-1"),
    "cp1252-dos-eof": "Caf\u00e9 \u201cnotes\u201d \u2014 one.\r\n".encode("cp1252") + b"\x1a",
    "utf-16": "Caf\u00e9 notes.\r\n".encode("utf-16"),
    "utf-16-no-bom": "Caf\u00e9 notes.\r\n".encode("utf-16-le"),
    "shift-jis": "\u4f1a\u8b70\u306e\u8a18\u9332\u3002\n".encode("shift_jis") * 20,
}


@pytest.mark.parametrize("encoding", list(OLD_TRANSCRIPTS))
def test_fetch_overwrite_replaces_an_old_transcript_in_any_text_encoding(
    done_job, tmp_path, encoding: str
) -> None:
    """A transcript saved by another tool in Windows-1252 (with DOS's end-of-file mark),
    UTF-16 or Shift-JIS was called binary data and kept, though --overwrite asked for its
    replacement."""
    target = tmp_path / "talk.txt"
    target.write_bytes(OLD_TRANSCRIPTS[encoding])
    result = cli("fetch", done_job.job_id, "-o", str(target), "--overwrite")
    assert result.exit_code == 0, result.output
    assert target.read_text() == "Hello there.\n"


# ---- transcripts respect the umask (issue 12 §7) ------------------------------------------
@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_a_new_transcript_gets_the_mode_open_would_give_it(done_job, tmp_path, mask, mode) -> None:
    previous = os.umask(mask)
    try:
        result = cli("fetch", done_job.job_id, "-o", str(tmp_path / "new.txt"))
    finally:
        os.umask(previous)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE((tmp_path / "new.txt").stat().st_mode) == mode


# ---- fetch says what happened (issue 12 §12) ----------------------------------------------
def test_fetch_of_a_missing_result_with_no_record_is_not_found(s3, bucket) -> None:
    result = cli("fetch", f"s3://{bucket}/wasync/outputs/whisper/missing.out")
    assert result.exit_code == 1, result.output
    assert "No result at" in result.stderr and "no wasync job record" in result.stderr
    assert "--wait" not in result.stderr


def test_fetch_of_the_input_audio_instead_of_its_result_is_refused(s3, bucket, data_dir) -> None:
    """`fetch s3://bucket/talk.wav` printed the WAV as text, exit 0, "done"."""
    s3.put_object(
        Bucket=bucket, Key="audio/talk.wav", Body=(data_dir / "en_short.wav").read_bytes()
    )
    result = cli("fetch", f"s3://{bucket}/audio/talk.wav")
    assert result.exit_code == 2, result.output
    assert "holds binary data (audio or video?), not a transcript" in result.stderr
    assert result.stdout == ""


def test_fetch_of_a_job_whose_record_points_at_audio_prints_none_of_it(
    s3, bucket, data_dir
) -> None:
    """A record is as writable as the bucket: one naming audio dumped it on the terminal."""
    put_job(s3, bucket, "b" * 24, result=(data_dir / "en_short.wav").read_bytes())
    result = cli("fetch", "b" * 24)
    assert result.exit_code == 1, result.output
    assert "holds binary data (audio or video?), not a transcript" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("waiting", [[], ["--wait", "--timeout", "5s"]])
def test_fetch_of_a_result_in_a_bucket_that_does_not_exist_is_not_found_at_once(
    s3, bucket, waiting: list[str]
) -> None:
    # It retried the listing until Ctrl-C, whatever --timeout said.
    result = cli("fetch", "s3://no-such-bucket-here/x.out", *waiting)
    assert result.exit_code == 1, result.output
    assert "no-such-bucket-here does not exist" in result.stderr
    assert "retrying" not in result.output and "Traceback" not in result.output


def test_fetch_by_result_uri_of_a_failed_job_reports_the_failure(s3, bucket) -> None:
    failure = b'Received client error (415) from primary with message "{\\"message\\": \\"cannot decode the audio\\"}"'
    record = put_job(s3, bucket, "b" * 24, failure=failure)
    result = cli("fetch", record.output_location)
    assert result.exit_code == 1, result.output
    assert "cannot decode the audio" in result.stderr


def test_fetch_of_an_unknown_id_is_not_found(s3) -> None:
    result = cli("fetch", "c" * 24)
    assert result.exit_code == 1 and "No job" in result.stderr


@pytest.mark.parametrize("reference", ["../../../etc/passwd", "a b", "x" * 2000, "-f"])
def test_fetch_of_something_no_job_id_looks_like_exits_2(s3, reference: str) -> None:
    result = cli("fetch", "--", reference)
    assert result.exit_code == 2, result.output
    assert "is not a job id" in result.stderr and "s3://" in result.stderr
    assert "x" * 100 not in result.stderr  # a long one is cut short, not echoed whole


def test_fetch_takes_the_start_of_a_job_id_that_only_one_job_has(s3, bucket) -> None:
    first, second = "1234567890ab" + "c" * 12, "1234567890ff" + "d" * 12
    for job_id in (first, second):
        put_job(s3, bucket, job_id, result=json.dumps(RESULT).encode())
    short = cli("fetch", first[:12])
    assert short.exit_code == 0 and short.stdout == "Hello there.\n", short.output
    ambiguous = cli("fetch", first[:10])
    assert ambiguous.exit_code == 2, ambiguous.output
    assert first in ambiguous.stderr and second in ambiguous.stderr
    too_short = cli("fetch", first[:5])  # too short to be taken as an id's start
    assert too_short.exit_code == 2 and "at least 6 characters" in too_short.stderr


def test_fetch_in_an_unknown_format_exits_2_naming_the_formats(done_job) -> None:
    result = cli("fetch", done_job.job_id, "-f", "docx")
    assert result.exit_code == 2, result.output
    assert "unknown format 'docx'" in result.stderr and "srt" in result.stderr
    assert "unexpected" not in result.stderr


def make_endpoint(  # type: ignore[no-untyped-def]
    moto_clients, name: str = "whisper", bucket: str | None = None, failures: bool = True
) -> None:
    """An endpoint in moto; with `bucket`, asynchronous, its results where wasync puts them
    (and, unless not `failures`, its failures)."""
    sagemaker = moto_clients.client("sagemaker")
    role = "arn:aws:iam::123456789012:role/wasync-sagemaker"
    sagemaker.create_model(
        ModelName=name, ExecutionRoleArn=role, PrimaryContainer={"Image": "img:latest"}
    )
    variant = {"VariantName": "AllTraffic", "ModelName": name, "InstanceType": "ml.m5.large"}
    variant["InitialInstanceCount"] = 1  # type: ignore[assignment]
    extra = {}
    if bucket is not None:
        paths = {"S3OutputPath": f"s3://{bucket}/wasync/outputs/{name}"}
        if failures:
            paths["S3FailurePath"] = f"s3://{bucket}/wasync/failures/{name}"
        extra["AsyncInferenceConfig"] = {"OutputConfig": paths}
    sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[variant], **extra)
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)


def test_fetch_of_a_pending_job_exits_3_and_says_how_to_wait(moto_clients, s3, bucket) -> None:
    make_endpoint(moto_clients)
    record = put_job(s3, bucket, "d" * 24)
    result = cli("fetch", record.job_id)
    assert result.exit_code == 3, result.output
    assert f"wasync fetch {record.job_id} --wait" in result.stderr
    waited = cli("fetch", record.job_id, "--wait", "--timeout", "0s")
    assert waited.exit_code == 3 and "still pending after waiting 0s (--timeout)" in waited.stderr
    # --json prints the pending job as a document too, so `| jq .state` reads its state
    as_json = cli("--json", "fetch", record.job_id[:8])
    assert as_json.exit_code == 3, as_json.output
    document = json.loads(as_json.stdout)
    assert (document["id"], document["state"]) == (record.job_id, "pending")
    assert document["text"] is None and document["error"] is None


def test_fetch_to_a_file_name_too_long_is_refused_before_anything_is_read(tmp_path: Path) -> None:
    """It failed once the result was read, as "File name too long", with a hint to pick a
    folder one can write."""
    result = cli("fetch", "d" * 24, "-o", str(tmp_path / ("c" * 300 + ".txt")))
    assert result.exit_code == 2, result.output
    assert "is longer than file systems allow (304 bytes, at most 255)" in result.stderr
    assert "pass a shorter name" in result.stderr


@pytest.mark.parametrize("endpoint_now", ["deleted, before", "deleted and made again"])
def test_fetch_of_a_job_whose_endpoint_is_gone_says_no_result_will_come(
    moto_clients, s3, bucket, endpoint_now: str
) -> None:
    """`delete` (with or without --purge) takes the endpoint's queue; the job's record stays."""
    record = put_job(s3, bucket, "d" * 24)
    if endpoint_now == "deleted and made again":
        old = JobRecord(**{**record.__dict__, "submitted_at": "2020-01-01T00:00:00+00:00"})
        RecordStore(s3, bucket, "wasync/").overwrite(old)
        make_endpoint(moto_clients)
    result = cli("fetch", record.job_id, "--wait", "--timeout", "1h")
    assert result.exit_code == 1, result.output
    assert f"has no result, and none will come: its endpoint whisper was {endpoint_now}" in (
        result.stderr
    )
    assert "or with its result (`delete --purge`)" in result.stderr  # a finished job's, purged
    assert "transcribe talk.wav again" in result.stderr


# ---- fetch of a result requested in another format (issue 17 §3) ---------------------------
def test_a_result_asked_for_in_srt_comes_back_as_srt(s3, bucket) -> None:
    record = put_job(s3, bucket, "e" * 24, result=SRT.encode(), content_type="application/x-subrip")
    as_is = cli("fetch", record.output_location)
    assert as_is.exit_code == 0, as_is.output
    assert as_is.stdout == SRT
    assert cli("fetch", record.output_location, "-f", "srt").stdout == SRT
    converted = cli("fetch", record.job_id, "-f", "txt")
    assert converted.exit_code == 0 and converted.stdout == "Hello there.\nGeneral Kenobi.\n"
    shouted = cli("fetch", record.job_id, "-f", "TXT")  # a format's name is read in any case
    assert shouted.exit_code == 0 and shouted.stdout == converted.stdout


def test_a_plain_text_result_is_handed_back_when_it_cannot_be_converted(s3, bucket) -> None:
    record = put_job(s3, bucket, "f" * 24, result=b"just words\n", content_type="text/plain")
    result = cli("fetch", record.output_location, "-f", "srt")
    assert result.exit_code == 0 and result.stdout == "just words\n"
    assert "cannot be converted to srt" in result.stderr


def test_fetch_json_is_one_document_with_the_text(done_job) -> None:
    result = cli("--json", "fetch", done_job.job_id)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["state"] == "done" and document["text"] == "Hello there.\n"


# ---- transcribe refuses what it can check before any upload (issue 12 §8, §11) -------------
@pytest.fixture
def clip(tmp_path: Path) -> Path:
    path = tmp_path / "clip.wav"
    path.write_bytes(b"RIFF....WAVE")
    return path


@pytest.mark.parametrize(
    "flags, message",
    [
        (
            ["--request-ttl", "30s"],
            "--request-ttl 30s is out of range: SageMaker accepts 1m 00s to 6h 00m",
        ),
        (["--request-ttl", "7h"], "--request-ttl 7h 00m is out of range"),  # was "25200s"
        (["--invocation-timeout", "2h"], "--invocation-timeout 2h 00m is out of range"),
        (["-f", "docx"], "unknown format 'docx'"),
        (["--beam-size", "0"], "beam_size"),
    ],
)
def test_out_of_range_options_exit_2_before_any_upload(s3, bucket, clip, flags, message) -> None:
    result = cli("transcribe", str(clip), "--wait", *flags)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


def test_files_a_folder_or_glob_leaves_out_by_extension_are_named(
    s3, bucket, clip, tmp_path
) -> None:
    """A recording saved as .dat was missing from the batch without a word, even with -v.
    Transcripts are no recordings: a folder run again listed wasync's own as left out."""
    folder = tmp_path / "talks"
    folder.mkdir()
    (folder / "talk.wav").write_bytes(clip.read_bytes())
    (folder / "notes.doc").write_text("agenda")
    (folder / "call.dat").write_bytes(clip.read_bytes())
    for transcript in ("talk.txt", "talk.SRT", "talk.vtt", "talk.json", "talk.tsv"):
        (folder / transcript).write_text("Hello.")
    for argument in (str(folder), str(folder / "*")):
        result = cli("transcribe", argument, "--json", "--wait", "-f", "docx")  # stops at -f
        assert result.exit_code == 2, result.output
        assert f"{argument}: left out 2 files without an audio or video extension" in result.stderr
        assert "(call.dat, notes.doc); name a file on its own" in result.stderr
    quiet = cli("-q", "transcribe", str(folder), "--wait", "-f", "docx")
    assert "left out" not in quiet.stderr
    alone = cli("transcribe", str(folder / "talk.wav"), "--wait", "-f", "docx")
    assert "left out" not in alone.stderr
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


def test_output_dir_that_is_a_file_exits_2_before_any_upload(s3, bucket, clip, tmp_path) -> None:
    (tmp_path / "out").write_text("a file")
    result = cli("transcribe", str(clip), "--wait", "-o", str(tmp_path / "out"))
    assert result.exit_code == 2, result.output
    assert "is a file, not a folder" in result.stderr
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


def test_an_output_dir_without_wait_exits_2_before_any_upload(s3, bucket, clip, tmp_path) -> None:
    """Without --wait nothing is written: -o made an empty folder and the user waited for
    transcripts that never came."""
    result = cli("transcribe", str(clip), "-o", str(tmp_path / "out"))
    assert result.exit_code == 2, result.output
    assert "needs --wait" in result.stderr and "wasync fetch ID -o FILE" in result.stderr
    assert not (tmp_path / "out").exists()
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


def test_an_output_dir_nobody_can_write_exits_2_before_any_upload(s3, bucket, clip) -> None:
    result = cli("transcribe", str(clip), "--wait", "-o", "/proc/wasync-transcripts")
    assert result.exit_code == 2, result.output
    assert "cannot write to --output-dir /proc/wasync-transcripts" in result.stderr
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    there = cli("transcribe", str(clip), "--wait", "-o", "/proc")  # "No such file or directory"
    assert there.exit_code == 2, there.output
    assert "cannot write to --output-dir /proc: the folder takes no new files" in there.stderr


def test_a_notify_queue_that_does_not_exist_exits_2(s3, clip) -> None:
    queue = "https://sqs.us-east-1.amazonaws.com/123456789012/no-such-queue"
    result = cli("transcribe", str(clip), "--wait", "--notify-queue", queue)
    assert result.exit_code == 2, result.output
    assert "no-such-queue does not exist" in result.stderr


def test_a_notify_queue_with_an_endpoint_that_publishes_nothing_is_warned_of(  # type: ignore[no-untyped-def]
    moto_clients, s3, bucket, clip
) -> None:
    """Each result then waits for the fallback listing: two tiny jobs took 33 s, unexplained."""
    make_endpoint(moto_clients, bucket=bucket)  # no NotificationConfig: deployed without --notify
    queue = moto_clients.client("sqs").create_queue(QueueName="wasync-done")["QueueUrl"]
    result = cli("transcribe", str(clip), "--notify-queue", queue)
    assert "whisper was deployed without --notify, so nothing reaches" in result.stderr, (
        result.output
    )


def test_a_typo_in_the_arguments_exits_2(s3, tmp_path) -> None:
    result = cli("transcribe", str(tmp_path / "missing.wav"))
    assert result.exit_code == 2 and "does not exist" in result.stderr


def test_an_s3_input_names_a_missing_bucket_apart_from_a_missing_object(  # type: ignore[no-untyped-def]
    moto_clients, s3, bucket
) -> None:
    """HeadObject answers both with a bare 404; "no such object" sent users looking for a key
    when the bucket's name was wrong."""
    make_endpoint(moto_clients, bucket=bucket)
    result = cli("transcribe", "s3://no-such-bucket-of-ours/a.wav", f"s3://{bucket}/missing.wav")
    assert result.exit_code == 1, result.output
    assert "the bucket no-such-bucket-of-ours does not exist" in result.stderr
    assert "missing.wav: cannot read it: no such object in S3" in result.stderr, result.stderr


def test_an_s3_folder_named_without_its_slash_is_told_to_add_it(  # type: ignore[no-untyped-def]
    moto_clients, s3, bucket
) -> None:
    """`s3://B/talks` where the audio lies under talks/ failed as "no such object"."""
    make_endpoint(moto_clients, bucket=bucket)
    s3.put_object(Bucket=bucket, Key="talks/a.wav", Body=b"RIFF")
    result = cli("transcribe", f"s3://{bucket}/talks")
    assert result.exit_code == 1, result.output
    said = " ".join(result.stderr.split())  # rich wraps the long line
    assert f"s3://{bucket}/talks/ holds objects: an S3 prefix; name it with its slash" in said


def test_an_s3_prefix_with_no_audio_or_no_bucket_is_refused_before_anything_is_sent(  # type: ignore[no-untyped-def]
    moto_clients, s3, bucket
) -> None:
    make_endpoint(moto_clients, bucket=bucket)
    s3.put_object(Bucket=bucket, Key="notes/readme.txt", Body=b"notes")
    s3.put_object(Bucket=bucket, Key="notes/.hidden/a.wav", Body=b"RIFF")
    empty = cli("transcribe", f"s3://{bucket}/notes/")
    assert empty.exit_code == 2, empty.output
    assert f"s3://{bucket}/notes/ holds no audio or video objects" in empty.stderr
    missing = cli("transcribe", "s3://no-such-bucket-of-ours/calls/")
    assert missing.exit_code == 2 and "Traceback" not in missing.output
    said = " ".join(missing.stderr.split())
    assert "The bucket no-such-bucket-of-ours does not exist" in said, said
    assert "check the name in s3://no-such-bucket-of-ours/calls/" in said, said
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="wasync/")
    assert not any("/inputs/" in o["Key"] for o in listed.get("Contents", []))


# ---- jobs ---------------------------------------------------------------------------------
def test_jobs_lists_json_lines_with_each_state(s3, bucket, done_job) -> None:
    put_job(s3, bucket, "b" * 24, failure=b'{"message": "bad audio"}')
    put_job(s3, bucket, "d" * 24)
    result = cli("--json", "jobs", "--since", "1h")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert {line["id"]: line["state"] for line in lines} == {
        "a" * 24: "done",
        "b" * 24: "failed",
        "d" * 24: "pending",
    }
    assert next(line for line in lines if line["state"] == "failed")["error"] == "bad audio"
    nothing = cli("jobs", "--since", "0")  # it listed nothing, as if there were no jobs
    assert nothing.exit_code == 2 and "--since 0 covers no time" in nothing.stderr


def test_jobs_of_a_named_endpoint_are_its_own_and_of_none_named_every_endpoints(s3, bucket) -> None:
    put_job(s3, bucket, "h" * 24, endpoint="whisper")
    put_job(s3, bucket, "i" * 24, endpoint="meetings")

    def listed(*flags: str) -> set[str]:
        result = cli(*flags, "--json", "jobs")
        assert result.exit_code == 0, result.output
        return {json.loads(line)["id"] for line in result.stdout.splitlines()}

    assert listed("-e", "meetings") == {"i" * 24}
    assert listed("-e", "whisper") == {"h" * 24}
    assert listed() == {"h" * 24, "i" * 24}
    # and says which endpoint each was sent to: its JSON, and the table of every endpoint's
    lines = [json.loads(line) for line in cli("--json", "jobs").stdout.splitlines()]
    assert {line["id"]: line["endpoint"] for line in lines} == {
        "h" * 24: "whisper",
        "i" * 24: "meetings",
    }
    table = CliRunner().invoke(app, ["jobs"], env={"COLUMNS": "200"}).stdout
    assert table.split()[0] == "endpoint" and "meetings" in table
    assert CliRunner().invoke(app, ["-e", "meetings", "jobs"]).stdout.split()[0] == "file"


def test_jobs_in_a_bucket_that_does_not_exist_is_an_error_not_an_empty_list(moto_clients) -> None:  # type: ignore[no-untyped-def]
    """`--bucket` with a typo said "no jobs", exit 0: a user would believe there were none."""
    result = cli("--bucket", "no-such-bucket-of-ours", "jobs")
    assert result.exit_code == 1, result.output
    assert "the bucket no-such-bucket-of-ours does not exist" in result.stderr
    assert "no jobs" not in result.stdout


def test_the_jobs_table_shows_whole_job_ids_on_an_80_column_terminal(s3, bucket) -> None:
    """The id is what `wasync fetch` takes: a table that cuts it short is no use."""
    ids = ["e" * 24, "f" * 24]
    sources = ["s3://my-team-audio/2026/11/30/standup-meeting.flac", "x.wav"]
    for job_id, source in zip(ids, sources, strict=True):
        put_job(s3, bucket, job_id, result=json.dumps(RESULT).encode(), source=source)
    result = CliRunner().invoke(app, ["jobs"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    for job_id in ids:
        assert job_id in result.stdout, result.stdout


def test_the_jobs_table_in_a_file_keeps_every_cell_whole(s3, bucket) -> None:
    """Without a terminal (`wasync jobs > jobs.txt`) nothing is cut to fit 80 columns."""
    source = "s3://my-team-audio/" + "/".join(f"department-{n}-recordings" for n in range(6))
    put_job(s3, bucket, "g" * 24, result=json.dumps(RESULT).encode(), source=source)
    result = CliRunner().invoke(app, ["jobs"], env={"COLUMNS": None})
    assert result.exit_code == 0, result.output
    assert source in result.stdout and "g" * 24 in result.stdout, result.stdout
    assert not [line for line in result.stdout.splitlines() if line.endswith(" ")]


# ---- fetch --wait of a request wasync did not send (no record) ----------------------------
def test_the_failure_of_an_unrecorded_request_lies_beside_its_output(bucket) -> None:
    from tests.helpers.fake_endpoint import target
    from whisper_async.jobs.fetch import failure_beside

    paths = target(bucket).output_path, target(bucket).failure_path
    output = f"{paths[0]}2026/11/30/abc-123.out"
    assert failure_beside(output, *paths) == f"{paths[1]}2026/11/30/abc-123-error.out"
    assert failure_beside(f"s3://{bucket}/elsewhere/abc.out", *paths) is None
    assert failure_beside(output, paths[0], None) is None


def sent_by_another_client(s3, bucket: str, failure: bytes | None = None) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """The OutputLocation and FailureLocation of a request the AWS CLI sent (no wasync
    record), with its failure written when given."""
    output = f"s3://{bucket}/wasync/outputs/whisper/0f1e2d3c-aws-cli.out"
    failed = f"s3://{bucket}/wasync/failures/whisper/0f1e2d3c-aws-cli-error.out"
    if failure is not None:
        s3.put_object(Bucket=bucket, Key=failed.split("/", 3)[3], Body=failure)
    return output, failed


UNDECODABLE = b'{"error": "undecodable_audio", "message": "cannot decode the audio"}'


def test_another_clients_pending_request_is_pending_not_missing(moto_clients, s3, bucket) -> None:
    make_endpoint(moto_clients, bucket=bucket)
    output, _ = sent_by_another_client(s3, bucket)
    result = cli("fetch", output)
    assert result.exit_code == 3, result.output
    assert "queued or running on whisper" in result.stderr
    assert f"wasync fetch {output} --wait" in result.stderr


def test_a_pending_request_on_an_endpoint_without_a_failure_path_is_pending(
    moto_clients, s3, bucket
) -> None:
    """It was said to lie outside the S3OutputPath it lies under (exit 1)."""
    make_endpoint(moto_clients, bucket=bucket, failures=False)
    output, _ = sent_by_another_client(s3, bucket)
    result = cli("fetch", output)
    assert result.exit_code == 3, result.output
    assert "whisper has no S3FailurePath to look for its failure in" in result.stderr


def test_a_uri_outside_the_endpoints_output_path_is_not_found_and_not_waited_for(
    moto_clients, s3, bucket
) -> None:
    make_endpoint(moto_clients, bucket=bucket)
    elsewhere = f"s3://{bucket}/mine/nothing.out"
    result = cli("fetch", elsewhere, "--wait", "--timeout", "30s")  # waited it out: exit 3
    assert result.exit_code == 1, result.output
    assert "not under endpoint whisper's S3OutputPath" in result.stderr


def test_a_result_uri_of_another_endpoint_is_fetched_from_that_endpoint_without_e(
    moto_clients, s3, bucket
) -> None:
    """outputs/asr2/... was said to lie outside endpoint whisper's S3OutputPath (exit 1), and
    its failure beside it was not looked for, though the URI names its endpoint."""
    make_endpoint(moto_clients, name="asr2", bucket=bucket)
    output = f"s3://{bucket}/wasync/outputs/asr2/0f1e2d3c-aws-cli.out"
    failed = "wasync/failures/asr2/0f1e2d3c-aws-cli-error.out"
    s3.put_object(Bucket=bucket, Key=failed, Body=UNDECODABLE)
    result = cli("fetch", output)
    assert result.exit_code == 1, result.output
    assert "cannot decode the audio" in result.stderr
    s3.delete_object(Bucket=bucket, Key=failed)
    pending = cli("fetch", output)
    assert pending.exit_code == 3 and "queued or running on asr2" in pending.stderr


def test_another_clients_failed_request_says_why_by_either_uri(moto_clients, s3, bucket) -> None:
    """Without --wait too; and its FailureLocation is read as the failure it is, not printed
    as a transcript with exit 0."""
    make_endpoint(moto_clients, bucket=bucket)
    output, failed = sent_by_another_client(s3, bucket, failure=UNDECODABLE)
    for uri in (output, failed):
        result = cli("fetch", uri)
        assert result.exit_code == 1, result.output
        assert "cannot decode the audio" in result.stderr and result.stdout == ""


def test_after_the_endpoint_is_deleted_a_failure_is_still_found_and_nothing_is_waited_for(
    s3, bucket
) -> None:
    output, _ = sent_by_another_client(s3, bucket, failure=UNDECODABLE)
    failed = cli("fetch", output, "--wait", "--timeout", "1h")
    assert failed.exit_code == 1 and "cannot decode the audio" in failed.stderr, failed.output
    missing = f"s3://{bucket}/wasync/outputs/whisper/never-written.out"
    gone = cli("fetch", missing, "--wait", "--timeout", "1h")  # returns at once: no endpoint
    assert gone.exit_code == 1, gone.output
    assert "endpoint whisper does not exist" in gone.stderr
    assert "S3OutputPath" not in gone.stderr and "send the audio again" in gone.stderr


@pytest.mark.parametrize("count", ["0", "100000"])
def test_transcribe_concurrency_out_of_range_is_a_usage_error(s3, tmp_path, count: str) -> None:
    # 100,000 started threads until Python could start no more ("can't start new thread").
    audio = tmp_path / "a.wav"
    audio.write_bytes(b"RIFF")
    result = cli("transcribe", str(audio), "--concurrency", count)
    assert result.exit_code == 2, result.output
    assert f"--concurrency {count} is out of range; allowed 1 to 256" in result.stderr


# ---- results another party wrote: refused by name, never "unexpected" (an attack trial) -------
DEEP = b"[" * 100_000


@pytest.mark.parametrize(
    ("name", "result", "said"),
    [
        (
            "segment-text-a-number",
            {"text": "x", "segments": [{"start": 0, "end": 1, "text": 7}]},
            "not a transcript",
        ),
        (
            "start-infinite",
            b'{"text": "x", "segments": [{"start": 1e400, "end": 1, "text": "a"}]}',
            "not a transcript",
        ),
        (
            "start-nan",
            b'{"text": "x", "segments": [{"start": NaN, "end": 1, "text": "a"}]}',
            "not a transcript",
        ),
    ],
)
def test_a_forged_json_result_is_refused_by_name(
    s3, bucket, name: str, result: object, said: str
) -> None:  # type: ignore[no-untyped-def]
    body = result if isinstance(result, bytes) else json.dumps(result).encode()
    job = put_job(s3, bucket, name.encode().hex()[:24].ljust(24, "0"), result=body)
    fetched = cli("fetch", job.job_id, "-f", "srt")
    assert fetched.exit_code == 1, fetched.output
    assert said in fetched.stderr and "unexpected" not in fetched.output


def test_a_result_nested_past_the_recursion_limit_is_given_as_text(s3, bucket) -> None:  # type: ignore[no-untyped-def]
    """`[` x 100,000 ended in "unexpected RecursionError"; it is no JSON wasync reads."""
    job = put_job(s3, bucket, "d" * 24, result=DEEP, failure=None)
    fetched = cli("fetch", job.job_id)
    assert fetched.exit_code == 0, fetched.output
    assert fetched.stdout.startswith("[[[") and "unexpected" not in fetched.output
    failed = put_job(s3, bucket, "e" * 24, failure=b'{"message": ' + DEEP)
    reason = cli("fetch", failed.job_id)
    assert reason.exit_code == 1 and "unexpected" not in reason.output, reason.output


def test_a_result_over_the_size_limit_is_refused_before_it_is_read_whole(
    s3,
    bucket,
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.setattr("whisper_async.jobs.results.MAX_RESULT_BYTES", 1024)
    job = put_job(s3, bucket, "f" * 24, result=json.dumps(RESULT).encode() + b" " * 2048)
    fetched = cli("fetch", job.job_id)
    assert fetched.exit_code == 1, fetched.output
    assert "is over 1.0 KiB, larger than any transcript" in " ".join(fetched.stderr.split())


@pytest.mark.parametrize(
    "body", [DEEP, b'{"updated_at": 5}', b'{"updated_at": "yesterday"}', b"[]"]
)
def test_a_forged_heartbeat_reads_as_no_heartbeat(s3, bucket, body: bytes) -> None:  # type: ignore[no-untyped-def]
    """A run deciding whether another is alive read it with json.loads and re-raised what
    was not ValueError or KeyError: a forged heartbeat ended the batch."""
    from whisper_async.jobs.ownership import Heartbeats

    beats = Heartbeats(s3, bucket, "wasync/")
    s3.put_object(Bucket=bucket, Key=beats.key("20260101-000000-abcdef"), Body=body)
    assert beats.last_beat("20260101-000000-abcdef") is None
