"""The CLI behaves as users expect: global options before or after the command, user text
never read as markup, a fast start that imports no botocore, and a cli/ without import cycles."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from tests.helpers.models import checkpoint_file
from whisper_async import __version__
from whisper_async.cli.app import app

CLI = Path(__file__).resolve().parents[1] / "whisper_async" / "cli"


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, list(args), env=env)


def both_positions(option: tuple[str, ...], *command: str) -> list[tuple[str, ...]]:
    return [(*option, *command), (*command, *option)]


@pytest.mark.parametrize(
    ("option", "setting", "value"),
    [
        (("--region", "eu-west-1"), "region", "eu-west-1"),
        (("--aws-profile", "team"), "aws_profile", "team"),
        (("-e", "asr"), "endpoint", "asr"),
        (("--endpoint", "asr"), "endpoint", "asr"),
        (("--bucket", "my-audio"), "bucket", "my-audio"),
        (("--prefix", "team/"), "prefix", "team/"),
        (
            ("--role", "arn:aws:iam::123456789012:role/r"),
            "role_arn",
            "arn:aws:iam::123456789012:role/r",
        ),
        (("--image", "example/wasync:2"), "image_uri", "example/wasync:2"),
        (("--local",), "profile", "local"),
    ],
)
def test_settings_options_work_before_and_after_the_command(
    aws_env: Path, option: tuple[str, ...], setting: str, value: str
) -> None:
    for args in both_positions(option, "config", "show"):
        result = run("--json", *args)
        assert result.exit_code == 0, (args, result.output)
        shown = json.loads(result.stdout)[setting]
        assert shown == {"value": value, "source": "flag"}, args


def test_config_option_works_before_and_after_the_command(aws_env: Path) -> None:
    config = aws_env / "team.toml"
    config.write_text('endpoint = "from-file"\n')
    for args in both_positions(("--config", str(config)), "config", "show"):
        result = run("--json", *args)
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["endpoint"] == {
            "value": "from-file",
            "source": f"file {config}",
        }


def test_json_option_works_before_and_after_the_command(aws_env: Path) -> None:
    for args in both_positions(("--json",), "config", "show"):
        result = run(*args)
        assert json.loads(result.stdout)["prefix"]["value"] == "wasync/", args
    plain = run("config", "show")
    with pytest.raises(ValueError):
        json.loads(plain.stdout)


def test_quiet_option_works_before_and_after_the_command(moto_clients, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    checkpoint = tmp_path / "tiny.pt"
    checkpoint_file(checkpoint)
    assert run("push-model", str(checkpoint)).exit_code == 0
    loud = run("push-model", str(checkpoint))
    assert "upload skipped" in loud.stderr
    for flag in ("-q", "--quiet"):
        for args in both_positions((flag,), "push-model", str(checkpoint)):
            result = run(*args)
            assert result.exit_code == 0, result.output
            assert "upload skipped" not in result.stderr, args
            assert result.stdout.strip().startswith("s3://"), args


def test_verbose_option_works_before_and_after_the_command(moto_clients) -> None:  # type: ignore[no-untyped-def]
    for flag in ("-v", "--verbose"):
        for args in both_positions((flag,), "status"):
            result = run(*args)
            assert result.exit_code == 1  # no endpoint yet
            assert "region us-east-1, endpoint whisper" in result.stderr, args
    assert "region us-east-1" not in run("status").stderr


def test_debug_option_works_before_and_after_the_command(moto_clients) -> None:  # type: ignore[no-untyped-def]
    for args in both_positions(("--debug",), "status"):
        result = run(*args)
        assert result.exit_code == 1
        assert "Traceback" in result.stderr, args
        assert "does not exist" in result.stderr
    assert "Traceback" not in run("status").stderr


def test_global_options_after_a_group_command_and_with_values_after_options(
    aws_env: Path,
) -> None:
    result = run("local", "status", "--json", "--state-dir", str(aws_env / "nowhere"))
    assert result.exit_code == 1  # no stack runs there
    assert json.loads(result.stdout) == {"running": False, "state_dir": str(aws_env / "nowhere")}
    both = run("--region", "us-west-2", "config", "show", "--region", "eu-north-1", "--json")
    assert json.loads(both.stdout)["region"]["value"] == "eu-north-1"  # the later one wins


@pytest.mark.parametrize("argv", [["config", "show"], ["--json", "config", "show"]])
def test_a_reader_that_closes_stdout_ends_the_command_quietly(
    aws_env: Path, argv: list[str]
) -> None:
    """`wasync jobs | head -1`: the reader is gone, so the command finishes its work with its
    own exit code and says nothing; no "unexpected BrokenPipeError", no traceback."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before wasync writes a byte: every write is EPIPE
    try:
        done = subprocess.run(
            [sys.executable, "-m", "whisper_async.cli", *argv],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 0
    assert done.stderr == ""


def test_output_drops_lines_once_the_reader_of_stdout_is_gone() -> None:
    """transcribe writes its JSON lines from worker threads: none of them may raise."""
    from whisper_async.cli.render import Output

    read_end, write_end = os.pipe()
    os.close(read_end)
    with os.fdopen(write_end, "w") as stream:
        output = Output(json_mode=True, stdout=stream)
        for n in range(3):
            output.json_line({"n": n})
            output.write("transcript\n")
        output.out.print("a table")


def test_an_error_with_brackets_prints_as_text(aws_env: Path) -> None:
    result = run("transcribe", "[bold]x[/x].wav")
    assert result.exit_code == 2, result.output
    assert "[bold]x[/x].wav" in result.stderr
    assert "MarkupError" not in result.output and "unexpected" not in result.output
    again = run("push-model", "[/x]")
    assert again.exit_code == 2 and "[/x] does not exist" in again.stderr  # a usage error


def test_log_lines_with_brackets_print_as_text(moto_clients) -> None:  # type: ignore[no-untyped-def]
    logs = moto_clients.client("logs")
    group = "/aws/sagemaker/Endpoints/whisper"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="AllTraffic/i-1")
    message = "POST /invocations [red]x[/] [/y] 200"
    logs.put_log_events(
        logGroupName=group,
        logStreamName="AllTraffic/i-1",
        logEvents=[{"timestamp": int(time.time() * 1000), "message": message}],
    )
    result = run("logs")
    assert result.exit_code == 0, result.output
    assert message in result.stdout
    lines = run("logs", "--json").stdout.splitlines()
    assert [json.loads(line)["message"] for line in lines] == [message]


BUCKET = "sagemaker-us-east-1-123456789012"


def _put_record(s3, job_id: str, **fields: object) -> None:  # type: ignore[no-untyped-def]
    """A record under jobs/ as anyone allowed to write there might leave it."""
    record = {
        "job_id": job_id,
        "inference_id": job_id,
        "endpoint": "whisper",
        "source": "talk.wav",
        "output_location": f"s3://{BUCKET}/wasync/outputs/whisper/{job_id}.out",
        "failure_location": f"s3://{BUCKET}/wasync/failures/whisper/{job_id}-error.out",
        "submitted_at": "2026-01-01T00:00:00+00:00",
        **fields,
    }
    body = json.dumps(record)
    if record.get("options") == "DEEP":  # json.dumps itself cannot write it
        body = body.replace('"DEEP"', "[" * 30_000 + "]" * 30_000)
    s3.put_object(Bucket=BUCKET, Key=f"wasync/jobs/{job_id}.json", Body=body)


@pytest.mark.parametrize(
    ("source", "shown"),
    [
        ("[bold]talk[/x].wav", "[bold]talk[/x].wav"),  # markup prints as text
        ("\x1b[31mRED\x1b]0;TITLE\x07.wav", "\\x1b[31mRED\\x1b]0;TITLE\\x07.wav"),  # escapes shown
        ("a.wav\nb.wav  done  job2", "a.wav\\nb.wav  done  job2"),  # no row of its own
    ],
    ids=["brackets", "escape-sequences", "line-break"],
)
def test_a_records_source_prints_as_text_and_never_drives_the_terminal(  # type: ignore[no-untyped-def]
    moto_clients, source: str, shown: str
) -> None:
    s3 = moto_clients.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    _put_record(s3, "job1", source=source)
    result = run("jobs")
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stdout
    assert shown in result.stdout


@pytest.mark.parametrize(
    "bad",
    [
        {"output_location": "not-a-uri"},
        {"format": "../../etc"},
        {"submitted_at": 5},
        {"submitted_at": [1]},
        {"pid": "12"},
        {"source": "x" * 100_000},
        {"pid": 2**70},
        {"submitted_at": "2020-01-01T00:00:00"},
        {"options": "DEEP"},
    ],
    ids=[
        "output-not-s3",
        "format-a-path",
        "time-a-number",
        "time-a-list",
        "pid-a-string",
        "over-64-KiB",
        "pid-past-os-kill",
        "time-without-zone",
        "nested-30000-deep",
    ],
)
def test_a_malformed_record_is_left_out_and_the_others_still_list(  # type: ignore[no-untyped-def]
    moto_clients, bad: dict[str, object]
) -> None:
    s3 = moto_clients.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    _put_record(s3, "good1")
    _put_record(s3, "evil1", **bad)
    listed = run("jobs", "--json")
    assert listed.exit_code == 0, listed.output
    assert [json.loads(line)["id"] for line in listed.stdout.splitlines()] == ["good1"]
    fetched = run("fetch", "evil1")
    assert fetched.exit_code == 1, fetched.output
    assert "is not a job record wasync can read" in fetched.output
    assert "unexpected" not in fetched.output


def _imported_modules(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"import sys; {code}; print(' '.join(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return set(out.stdout.split())


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["status", "--help"]])
def test_starting_without_an_aws_call_imports_neither_boto3_nor_botocore(argv: list[str]) -> None:
    loaded = _imported_modules(
        "from whisper_async.cli.app import app\n"
        "try:\n"
        f"    app({argv!r})\n"
        "except SystemExit:\n"
        "    pass"
    )
    assert "whisper_async.cli.app" in loaded  # the probe ran
    assert not {m for m in loaded if m.split(".")[0] in {"boto3", "botocore", "s3transfer"}}


def _cli_imports() -> dict[str, set[str]]:
    """Each cli module and the cli modules it imports (at any depth of the file)."""
    graph: dict[str, set[str]] = {}
    for path in CLI.glob("*.py"):
        name = path.stem
        graph[name] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:
                    graph[name].add(node.module.split(".")[0])
                else:
                    graph[name].update(alias.name for alias in node.names)
    return graph


def test_cli_modules_import_each_other_without_a_cycle() -> None:
    graph = _cli_imports()
    # the reader sees imports: the console script (entry) imports app, which lists commands
    assert "entry" in graph["__main__"] and "app" in graph["entry"] and "commands" in graph["app"]
    visiting: list[str] = []
    done: set[str] = set()

    def visit(node: str) -> None:
        assert node not in visiting, f"import cycle: {' -> '.join([*visiting, node])}"
        if node in done or node not in graph:
            return
        visiting.append(node)
        for target in graph[node]:
            visit(target)
        visiting.pop()
        done.add(node)

    for module in graph:
        visit(module)


def test_commands_are_registered_by_an_explicit_list_not_imports() -> None:
    for name, imports in _cli_imports().items():
        if name not in {"app", "__main__", "entry"}:
            assert "app" not in imports, name


@pytest.mark.parametrize(
    "argv",
    [
        ["transcribe", "missing.wav", "--json"],
        ["status", "--region", "eu-west-1", "--local"],
        ["logs", "-e", "asr", "--local"],
        ["deploy", "--role", "arn:aws:iam::123456789012:role/r", "--image", "x", "--local"],
    ],
)
def test_the_issues_examples_parse(aws_env: Path, argv: list[str]) -> None:
    """The commands users wrote that gave "No such option"; each now fails only on its merits
    (no such file, no local stack running, no model)."""
    result = run(*argv)
    assert "No such option" not in result.output
    assert result.exit_code == 2 and "hint:" in result.stderr


def test_a_transcript_reaches_a_terminal_without_its_control_characters() -> None:
    """A result is as writable as a job record: on a terminal, escapes are written out; into a
    pipe or file the transcript goes unchanged."""
    import io

    from whisper_async.cli.render import Output

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    transcript = "Hello.\x1b]0;owned\x07\n"
    terminal, pipe = Terminal(), io.StringIO()
    Output(stdout=terminal).write(transcript)
    Output(stdout=pipe).write(transcript)
    assert terminal.getvalue() == "Hello.\\x1b]0;owned\\x07\n"
    assert pipe.getvalue() == transcript


def test_a_file_whose_name_starts_with_a_dash_is_named_in_the_error(
    aws_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(aws_env)
    (aws_env / "-rf.wav").write_bytes(b"")
    result = run("transcribe", "-rf.wav")
    assert result.exit_code == 2
    assert "No such option: -r. '-rf.wav' is a file: name it as ./-rf.wav" in result.output
    # the -- form shown puts the options first: after --, `--wait` would be a file name
    assert "`wasync transcribe [OPTIONS] -- -rf.wav`" in " ".join(result.output.split())
    assert "is a file" not in run("transcribe", "-x.wav").output  # no such file: no hint


def test_version_under_json_is_a_json_document() -> None:
    for args in (["--json", "--version"], ["--version", "--json"]):
        result = run(*args)
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == {"version": __version__}


def test_a_file_name_with_undecodable_bytes_keeps_its_table_aligned() -> None:
    """`weird/bad\\xff.wav` reaches Python as a surrogate: rich padded its cell for one
    character and six were written (`\\udcff`)."""
    import io

    from rich.console import Console

    from whisper_async.cli.render import table

    out = io.StringIO()
    console = Console(file=out, width=80, color_system=None)
    console.print(table(["input", "state"], [["weird/bad\udcff.wav", "done"], ["ok.wav", "done"]]))
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    assert "bad\\udcff.wav" in out.getvalue()
    assert len({len(line) for line in lines}) == 1, lines
