"""Small pure pieces: error translation, input expansion, backoff, failure messages."""

from __future__ import annotations

import os
import random
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from botocore.exceptions import ClientError, NoCredentialsError

from whisper_async.aws import translate
from whisper_async.errors import ConfigurationError, ExitCode, UsageError
from whisper_async.inputs import expand, is_one_input
from whisper_async.jobs import failure_message
from whisper_async.local.runtime import telling_lines
from whisper_async.polling import Backoff


def test_access_denied_names_the_operation_and_the_policy_command() -> None:
    error = ClientError(
        {
            "Error": {
                "Code": "AccessDeniedException",
                "Message": "User: arn:aws:iam::1:user/x is not authorized to perform: sagemaker:CreateEndpoint",
            }
        },
        "CreateEndpoint",
    )
    translated = translate(error)
    assert translated is not None
    assert (
        "CreateEndpoint" in translated.message and "sagemaker:CreateEndpoint" in translated.message
    )
    assert "wasync iam" in (translated.hint or "")
    assert translated.exit_code == ExitCode.FAILURE


def test_no_credentials_is_a_configuration_error() -> None:
    translated = translate(NoCredentialsError())
    assert isinstance(translated, ConfigurationError) and translated.exit_code == 2


def test_expand_recurses_folders_globs_and_stdin_without_duplicates(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    for name in ("a/one.wav", "a/two.MP3", "a/notes.txt", "three.flac"):
        (tmp_path / name).write_bytes(b"x")
    stdin = [f"{tmp_path / 'three.flac'}\n", "\n", "s3://bucket/key/four.m4a\n"]
    found = expand([str(tmp_path / "a"), str(tmp_path / "*.flac"), "-"], stdin)
    assert [f.display.rsplit("/", 1)[-1] for f in found] == [
        "one.wav",
        "two.MP3",
        "three.flac",
        "four.m4a",
    ]
    assert found[-1].s3_uri == "s3://bucket/key/four.m4a" and found[-1].suffix == ".m4a"


def test_a_stdin_name_with_spaces_at_its_ends_is_taken_as_it_is_when_that_file_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file whose name begins with a space could not be passed through `-`; a stray space
    or CR around a name that exists without it is still forgiven."""
    monkeypatch.chdir(tmp_path)
    for name in (" lead.wav", "plain.wav"):
        (tmp_path / name).write_bytes(b"x")
    found = expand(["-"], [" lead.wav\n", "plain.wav \r\n"])
    assert [(f.display, f.problem) for f in found] == [(" lead.wav", None), ("plain.wav", None)]


def test_a_link_to_a_file_is_its_own_input_and_one_file_named_twice_is_one(
    tmp_path: Path,
) -> None:
    """docs/jobs.md: every input gets one row. A link has its own name, so its own transcript
    (the two share a job); `a.wav` and `./x/../a.wav` are one input."""
    (tmp_path / "x").mkdir()
    (tmp_path / "a.wav").write_bytes(b"x")
    (tmp_path / "b.wav").symlink_to("a.wav")
    found = expand([str(tmp_path), str(tmp_path / "x" / ".." / "a.wav"), str(tmp_path / "b.wav")])
    assert [f.display.rsplit("/", 1)[-1] for f in found] == ["a.wav", "b.wav"]
    assert all(f.problem is None for f in found)


def test_a_broken_link_or_a_pipe_gets_a_failed_row_or_a_clear_refusal(tmp_path: Path) -> None:

    from whisper_async.errors import UsageError

    (tmp_path / "good.wav").write_bytes(b"x")
    (tmp_path / "dangling.wav").symlink_to("/nonexistent/talk.wav")
    os.mkfifo(tmp_path / "pipe.wav")
    rows = {f.display.rsplit("/", 1)[-1]: f.problem for f in expand([str(tmp_path)])}
    assert rows["good.wav"] is None
    assert rows["dangling.wav"] and "link to /nonexistent/talk.wav" in rows["dangling.wav"]
    assert rows["pipe.wav"] and "named pipe, not a file" in rows["pipe.wav"]
    with pytest.raises(UsageError, match="named pipe, not a file"):  # not "does not exist"
        expand([str(tmp_path / "pipe.wav")])
    with pytest.raises(UsageError, match="which does not exist"):
        expand([str(tmp_path / "dangling.wav")])
    [from_stdin] = expand(["-"], [str(tmp_path / "pipe.wav")])
    assert from_stdin.problem and "named pipe" in from_stdin.problem


def test_a_glob_takes_audio_files_as_a_folder_does(tmp_path: Path) -> None:
    from whisper_async.errors import UsageError

    for name in ("talk.wav", "README.md", "cover.png"):
        (tmp_path / name).write_bytes(b"x")
    found = expand([str(tmp_path / "*")])
    assert [f.display.rsplit("/", 1)[-1] for f in found] == ["talk.wav"]
    with pytest.raises(UsageError, match="matches no audio or video files"):
        expand([str(tmp_path / "*.md")])


@pytest.mark.parametrize("argument", ["missing.wav", "nothing-*.wav"])
def test_expand_refuses_what_does_not_exist(tmp_path: Path, argument: str) -> None:
    from whisper_async.errors import UsageError

    with pytest.raises(UsageError):
        expand([str(tmp_path / argument)])


def test_one_file_or_one_s3_object_is_one_input_and_its_transcript_can_go_to_stdout(
    tmp_path: Path,
) -> None:
    (tmp_path / "talk.wav").write_bytes(b"x")
    assert is_one_input([str(tmp_path / "talk.wav")])
    assert is_one_input(["s3://team-audio/2026/standup.flac"])
    for arguments in (
        [str(tmp_path)],  # a folder
        [str(tmp_path / "*.wav")],  # a glob
        ["s3://team-audio/2026/"],  # a prefix
        ["-"],
        [str(tmp_path / "talk.wav"), "s3://team-audio/2026/standup.flac"],
    ):
        assert not is_one_input(arguments), arguments


def test_backoff_grows_to_its_cap_with_bounded_jitter() -> None:
    delays = Backoff(first=1, factor=2, cap=8, jitter=0.25).delays(random.Random(7))
    values = [next(delays) for _ in range(8)]
    assert 0.75 <= values[0] <= 1.25
    assert all(6 <= v <= 10 for v in values[4:])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b'{"error": "undecodable_audio", "message": "cannot decode the audio"}',
            "cannot decode the audio",
        ),
        (
            b'Received client error (415) from primary with message "{\\"message\\": \\"bad\\"}"',
            "bad",
        ),
        (b"plain\ntext  here", "plain text here"),
        (b'{"message": "failed:\\n FAKE: ok"}', "failed: FAKE: ok"),  # a forged second line
    ],
)
def test_failure_message_is_one_line(body: bytes, message: str) -> None:
    assert failure_message(body) == message


def test_an_s3_prefix_is_refused_before_anything_is_sent() -> None:
    with pytest.raises(UsageError) as bucket_alone:  # it failed its row, exit 1
        expand(["s3://team-audio"])
    assert "is an S3 bucket" in bucket_alone.value.message
    assert "--bucket team-audio --query" in (bucket_alone.value.hint or "")
    with pytest.raises(UsageError, match="'bad bucket' is not an S3 bucket name"):
        expand(["s3://bad bucket/calls/"])  # botocore's "Parameter validation failed", exit 1
    for no_bucket in ("s3://", "s3:///"):  # the hint was `--bucket ''` and `s3:///`
        with pytest.raises(UsageError, match="names no bucket") as nothing:
            expand([no_bucket])
        assert nothing.value.hint == "use the form s3://bucket/key or s3://bucket/prefix/"
    with pytest.raises(UsageError) as refused:
        expand(["s3://team-audio/2026/"])
    assert "S3 prefix" in refused.value.message
    # the hint's sed turns a key the listing prints into the object's URI, spaces and all
    hint = (refused.value.hint or "").split(" | ")
    assert "--prefix 2026/ --query 'Contents[].[Key]' --output text" in hint[0]
    sed = next(part for part in hint if part.startswith("sed"))
    listed = "2026/standup.flac\n2026/day 2/retro.m4a\n"
    made = subprocess.run(shlex.split(sed), input=listed, capture_output=True, text=True)
    assert (
        made.stdout == "s3://team-audio/2026/standup.flac\ns3://team-audio/2026/day 2/retro.m4a\n"
    )


def test_an_s3_prefix_is_read_as_a_folder_of_audio() -> None:
    """Audio objects by extension, each with its subfolder under the prefix (which -o keeps);
    folder markers, hidden parts and `..` (which would climb out of -o) left out."""
    from whisper_async.inputs import LeftOut, prefix_inputs

    keys = [
        "calls/",  # the console's folder marker
        "calls/a.wav",
        "calls/day 2/a.MP3",
        "calls/day 2/notes.pdf",
        "calls/.cache/x.wav",
        "calls/../../etc/x.wav",
        "calls/./b.wav",
        "calls//c.flac",
        "calls/a.txt",  # a transcript: not counted as left out
    ]
    left_out = LeftOut()
    found = list(prefix_inputs("team", "calls/", keys, left_out))
    assert [(i.s3_uri, i.subfolder, i.stem) for i in found] == [
        ("s3://team/calls/a.wav", None, "a"),
        ("s3://team/calls/day 2/a.MP3", Path("day 2"), "a"),
        ("s3://team/calls//c.flac", None, "c"),
    ]
    assert (left_out.count, left_out.names) == (1, ["notes.pdf"])


@pytest.mark.parametrize(("seconds", "shown"), [(0.4, "0s"), (184.576, "3m 05s"), (7800, "2h 10m")])
def test_durations_read_as_a_person_reads_them(seconds: float, shown: str) -> None:
    from whisper_async.durations import format_duration

    assert format_duration(seconds) == shown


def test_a_transcript_is_never_written_through_a_link(tmp_path: Path) -> None:
    """The batch refuses a link before sending; one made while the job ran is refused too."""
    from whisper_async.files import UnsafeDestinationError
    from whisper_async.jobs.destinations import Destination, write_transcript

    target = tmp_path / "elsewhere"
    (tmp_path / "talk.txt").symlink_to(target)
    with pytest.raises(UnsafeDestinationError, match="symbolic link"):
        write_transcript(Destination.under(tmp_path, None, "talk.txt"), "text", overwrite=True)
    assert not target.exists()


def test_audio_piped_into_dash_is_a_usage_error_not_rows_of_binary(tmp_path: Path) -> None:
    # `-` reads paths; audio piped there became 35 failed rows and 27 KB of stderr.
    import subprocess
    import sys

    audio = Path(__file__).parent / "data" / "en_short.wav"
    with audio.open("rb") as stdin:
        done = subprocess.run(
            [sys.executable, "-m", "whisper_async", "transcribe", "-", "--wait"],
            stdin=stdin,
            capture_output=True,
            cwd=tmp_path,
            timeout=120,
        )
    assert done.returncode == 2, done.stderr
    assert b"reads file paths, one per line" in done.stderr and len(done.stderr) < 1000
    assert b"Traceback" not in done.stderr


def test_a_list_of_paths_passes_the_check_for_audio_on_stdin() -> None:
    from whisper_async.inputs import check_path_list

    check_path_list("talks/ä b.wav\ns3://bucket/x.mp3\n".encode())
    with pytest.raises(UsageError):
        check_path_list(b"\x00\x00\x00\x20ftypM4A ")


# closes fd 1, then becomes wasync (a preexec_fn would run in a forked, threaded pytest)
CLOSED_STDOUT = "import os, sys; os.close(1); os.execv(sys.executable, sys.argv[1:])"


@pytest.mark.parametrize(
    ("args", "code", "said"),
    [
        (["transcribe", "talk.wav", "--wait"], 2, b"stdout is closed"),
        (["--region", "us-east-1", "--json", "config", "show"], 1, b"stdout is closed"),
        (["fetch", "job-id"], 2, b"pass -o FILE"),
        (["deploy", "--help"], 1, b"Could not write to stdout: stdout is closed"),
    ],
    ids=["transcript-would-be-lost", "json-document", "fetched-result-would-be-lost", "help"],
)
def test_a_closed_stdout_is_an_error_where_output_would_be_lost_and_no_traceback(
    tmp_path: Path, args: list[str], code: int, said: bytes
) -> None:
    """`wasync ... >&-`: Python starts with sys.stdout None; writes raised AttributeError,
    and `transcribe --wait` of one file exited 0 with its transcript gone. A transcript bound
    there is refused before the work; other output lost there is exit 1, as on /dev/full."""
    (tmp_path / "talk.wav").write_bytes(
        (Path(__file__).parent / "data" / "en_short.wav").read_bytes()
    )
    done = subprocess.run(
        [sys.executable, "-c", CLOSED_STDOUT, sys.executable, "-m", "whisper_async", *args],
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == code, done.stderr
    assert said in done.stderr
    assert b"Traceback" not in done.stderr and b"unexpected" not in done.stderr


@pytest.mark.parametrize(
    "args",
    [["config", "show"], ["--json", "config", "show"], ["--version"], ["status", "--help"]],
    ids=["text", "json", "version", "help"],
)
def test_output_that_stdout_refuses_is_an_error_not_a_silent_success(
    tmp_path: Path, args: list[str]
) -> None:
    """`wasync ... > /dev/full`: a disk that fills under the output exited 0 (or printed a
    traceback from the batch's outcome rows and exited 0), the output lost."""
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "whisper_async", "--region", "us-east-1", *args],
            stdin=subprocess.DEVNULL,
            stdout=full,
            stderr=subprocess.PIPE,
            cwd=tmp_path,
            timeout=120,
        )
    assert done.returncode == 1, done.stderr
    assert b"Could not write to stdout: No space left on device" in done.stderr
    assert b"Traceback" not in done.stderr and b"unexpected" not in done.stderr


def test_stderr_that_refuses_messages_leaves_the_exit_code_to_the_work(tmp_path: Path) -> None:
    """`2> /dev/full`: the first message raised OSError, and every command ended in exit 1
    (a batch whose transcripts were all written, too), its traceback lost as well."""
    env = {**os.environ, "WASYNC_STATE_DIR": str(tmp_path / "state")}
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "whisper_async", "--region", "us-east-1", "deploy", "--dry-run"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=full,
            cwd=tmp_path,
            env=env,
            timeout=120,
        )
    assert done.returncode == 2  # "No model to deploy": a usage error, though nobody saw it


def test_dash_as_the_output_folder_is_stdout_for_one_input_and_refused_for_several(
    tmp_path: Path,
) -> None:
    """`transcribe a.wav b.wav --wait -o -` made a folder named `-`."""
    for name in ("a.wav", "b.wav"):
        (tmp_path / name).write_bytes(b"RIFF....WAVE")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "whisper_async",
            "transcribe",
            "a.wav",
            "b.wav",
            "--wait",
            "-o",
            "-",
        ],
        capture_output=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert b"-o - writes one transcript to stdout" in done.stderr
    assert not (tmp_path / "-").exists()


def test_a_failure_reason_keeps_the_lines_that_tell_why() -> None:
    log = [
        "2026-12-04 19:52:55,707 INFO uvicorn.error: Started server process [6018]",
        "2026-12-04 19:52:55,708 INFO uvicorn.error: Application startup complete.",
        "2026-12-04 19:52:55,818 ERROR wasync.serve: model load failed: RuntimeError: bad",
        "Traceback (most recent call last):",
        "2026-12-04 19:52:56,001 INFO uvicorn.error: Shutting down",
    ]
    assert telling_lines(log, 8) == [
        "ERROR wasync.serve: model load failed: RuntimeError: bad",
        "Traceback (most recent call last):",
    ]
    assert telling_lines(log[:2], 1) == ["INFO uvicorn.error: Application startup complete."]


@pytest.mark.parametrize(
    ("bucket", "named"), [("Bad_Bucket", True), ("a..b", True), ("sagemaker-us-east-1-1", False)]
)
def test_a_missing_bucket_whose_name_s3_would_refuse_says_so(bucket: str, named: bool) -> None:
    error = ClientError(
        {"Error": {"Code": "NoSuchBucket", "Message": "nope", "BucketName": bucket}},
        "ListObjectsV2",
    )
    message = str(translate(error))
    assert f"the bucket {bucket} does not exist" in message
    assert ("breaks S3's naming rules" in message) is named
