"""Bad input to the CLI: each case is refused with its exit code and a message naming the problem.

One table, CASES: argv, environment, config file and files on disk -> exit code + fragments the
output must hold. Add a row to cover a new attack. No case may end in an "unexpected" error or
a traceback, and none reaches AWS: each is refused before any call (the environment points at
no real account).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from whisper_async.cli.app import app

USAGE = 2
FAILURE = 1


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]  # "{tmp}" and "{config}" are replaced by the case's folder and file
    code: int
    fragments: tuple[str, ...]  # each must appear in the output
    env: Mapping[str, str] = field(default_factory=dict)
    config: bytes | None = None  # written to {config}
    files: Mapping[str, bytes] = field(default_factory=dict)  # relative to {tmp}
    unreadable: tuple[str, ...] = ()  # folders (relative to {tmp}) made unreadable
    absent: tuple[str, ...] = ()  # each must not appear in the output (a secret)
    # run in a process of its own: what it sets is read once, at a library's import
    own_process: bool = False


CONFIG = ("--config", "{config}")

CASES = [
    # configuration: exit 2, the file or variable and the key named
    Case(
        "endpoint-urls-not-a-table",
        (*CONFIG, "config", "show"),
        USAGE,
        ("endpoint_urls must be a table", "a string", "config.toml"),
        config=b'endpoint_urls = "x"\n',
    ),
    Case(
        "endpoint-urls-unknown-service",
        (*CONFIG, "config", "show"),
        USAGE,
        ("unknown service 's4'", "sagemaker-runtime"),
        config=b'[endpoint_urls]\ns4 = "http://127.0.0.1:1"\n',
    ),
    Case(
        "endpoint-urls-value-not-a-string",
        (*CONFIG, "config", "show"),
        USAGE,
        ("endpoint_urls.s3 must be a string", "an integer"),
        config=b"[endpoint_urls]\ns3 = 4566\n",
    ),
    Case(
        "endpoint-url-in-file-not-a-url",
        (*CONFIG, "config", "show"),
        USAGE,
        ("'localhost:4566'", "for s3", "config.toml", "http://"),
        config=b'[endpoint_urls]\ns3 = "localhost:4566"\n',
    ),
    Case(
        "config-not-utf8",
        (*CONFIG, "config", "show"),
        USAGE,
        ("not UTF-8", "0xff", "line 2"),
        config=b'endpoint = "asr"\nregion = "eu-west-1\xff"\n',
    ),
    Case(
        "config-not-toml",
        (*CONFIG, "config", "show"),
        USAGE,
        ("not valid TOML", "config.toml"),
        config=b"region = \n",
    ),
    Case(
        "config-endpoint-is-an-array",
        (*CONFIG, "config", "show"),
        USAGE,
        ("endpoint must be a string", "an array", "['a']"),
        config=b'endpoint = ["a"]\n',
    ),
    Case(
        "config-region-is-a-number",
        (*CONFIG, "config", "show"),
        USAGE,
        ("region must be a string", "an integer"),
        config=b"region = 1\n",
    ),
    Case(
        "config-unknown-key",
        (*CONFIG, "config", "show"),
        USAGE,
        ("Unknown key", "endpiont", "allowed keys"),
        config=b'endpiont = "asr"\n',
    ),
    Case(
        "config-is-a-directory",
        ("--config", "{tmp}", "config", "show"),
        USAGE,
        ("is a directory",),
    ),
    Case(
        "config-does-not-exist",
        ("--config", "{tmp}/missing.toml", "config", "show"),
        USAGE,
        ("does not exist",),
    ),
    Case(
        "region-from-env-not-a-region",
        ("status",),
        USAGE,
        ("'not a region!'", "WASYNC_REGION", "eu-west-1"),
        env={"WASYNC_REGION": "not a region!"},
    ),
    Case(
        "region-from-file-not-a-region",
        (*CONFIG, "status"),
        USAGE,
        ("'eu west 1'", "config.toml"),
        config=b'region = "eu west 1"\n',
    ),
    Case(
        "local-region-unknown",  # moto answered a 500 page after 32 s of retries
        ("--region", "mars-1", "status"),
        USAGE,
        ("'mars-1'", "not one the local stack serves", "us-east-1"),
        env={"WASYNC_PROFILE": "local"},
    ),
    Case(
        "endpoint-url-from-env-not-a-url",
        ("status",),
        USAGE,
        ("'::bad'", "s3", "WASYNC_ENDPOINT_URL_S3"),
        env={"WASYNC_ENDPOINT_URL_S3": "::bad"},
    ),
    Case(
        "endpoint-url-from-env-bad-port",
        ("status",),
        USAGE,
        ("http://127.0.0.1:99999", "sagemaker", "WASYNC_ENDPOINT_URL_SAGEMAKER"),
        env={"WASYNC_ENDPOINT_URL_SAGEMAKER": "http://127.0.0.1:99999"},
    ),
    # push-model's SOURCE
    Case(
        "push-model-unknown-name",
        ("push-model", "huge-v9"),
        USAGE,
        ("'huge-v9'", "neither a Whisper model name nor an existing", "large-v3"),
    ),
    Case(
        "push-model-missing-path",
        ("push-model", "./models/tiny-ct2"),
        USAGE,
        ("./models/tiny-ct2 does not exist",),
    ),
    Case(
        # a folder named like a model does not change what `push-model tiny` means; the
        # output says which was used (the download then fails: there is no hub offline)
        "push-model-name-wins-over-a-folder-of-that-name",
        ("push-model", "tiny"),
        FAILURE,
        ("published model 'tiny'", "pass ./tiny"),
        env={"HF_HUB_OFFLINE": "1", "HF_HOME": "{tmp}/hf"},
        files={"tiny/config.json": b"{}"},
    ),
    Case(
        # a Hub that cannot be reached: its error runs over lines, the message is one
        "push-model-hub-unreachable",
        ("push-model", "tiny"),
        FAILURE,
        ("Cannot download Systran/faster-whisper-tiny", "you may be offline"),
        env={"HF_ENDPOINT": "http://127.0.0.1:9", "HF_HOME": "{tmp}/hf"},
        own_process=True,  # huggingface_hub reads HF_ENDPOINT and HF_HUB_OFFLINE at import
    ),
    Case(
        "cooldown-beyond-what-aws-takes",
        ("autoscale", "--scale-out-cooldown", "25000d"),
        USAGE,
        ("--scale-out-cooldown 25000d is longer than Application Auto Scaling takes",),
    ),
    Case(
        "cooldown-not-a-duration",
        ("autoscale", "--scale-in-cooldown", "1h30"),
        USAGE,
        ("--scale-in-cooldown '1h30' is not a duration", "10m"),
    ),
    Case(
        # `$` matches before a final newline: every name pattern is matched whole
        "region-with-a-trailing-newline",
        ("--region", "us-east-1\n", "status"),
        USAGE,
        ("Region 'us-east-1\\n' (from flag) is not a region name",),
    ),
    Case(
        "local-down-negative-grace",
        ("local", "down", "--state-dir", "{tmp}/stack", "--grace", "-1"),
        USAGE,
        ("--grace -1 is not a number of seconds from 0 to 3600",),
    ),
    Case(
        "local-logs-where-no-stack-ran",
        ("local", "logs", "--state-dir", "{tmp}/nothing-here"),
        FAILURE,
        ("No local stack has run from", "nothing-here", "--state-dir"),
    ),
    # an empty argument ("$FILE" with FILE unset) never means the current folder or nothing
    Case("transcribe-empty-argument", ("transcribe", ""), USAGE, ("input argument is empty",)),
    Case("push-model-empty-source", ("push-model", ""), USAGE, ("SOURCE is empty",)),
    Case("fetch-empty-id", ("fetch", ""), USAGE, ("job id is empty",)),
    # transcribe's inputs
    Case(
        "transcribe-unreadable-folder",
        ("transcribe", "{tmp}/recordings"),
        USAGE,
        ("cannot read folder", "recordings", "Permission denied"),
        files={"recordings/a.wav": b"RIFF"},
        unreadable=("recordings",),
    ),
    Case(
        "transcribe-folder-without-audio",
        ("transcribe", "{tmp}/notes"),
        USAGE,
        ("holds no audio", "and 88 more); name a file itself"),
        files={"notes/a.txt": b"text"},
    ),
    Case(
        "prefix-with-an-iam-wildcard",
        ("--prefix", "team*", "iam"),
        USAGE,
        ("Prefix 'team*' (from flag)", "wildcards"),
    ),
    Case(
        "argument-too-long-to-look-at",
        ("transcribe", "{tmp}/" + "a" * 300 + "/x.wav"),
        USAGE,
        ("cannot look at", "File name too long"),
    ),
    # endpoint URLs on this machine that nothing answers at (a stopped local stack): refused at
    # once, naming the variable, instead of ~20 s of botocore retries and "Could not reach"
    Case(
        "stopped-stack-in-botocores-variable",
        ("status",),
        USAGE,
        ("Nothing answers at http://127.0.0.1:1", "or unset AWS_ENDPOINT_URL to", "local up"),
        env={"AWS_ENDPOINT_URL": "http://127.0.0.1:1"},
    ),
    Case(
        "stopped-stack-in-wasyncs-variable",
        ("iam",),
        USAGE,
        ("Nothing answers at http://localhost:1", "or unset WASYNC_ENDPOINT_URL_STS to use AWS"),
        env={"WASYNC_ENDPOINT_URL_STS": "http://localhost:1"},
    ),
    Case(
        "stopped-stack-url-with-a-password",
        ("status",),
        USAGE,
        ("Nothing answers at http://***@127.0.0.1:1",),
        env={"AWS_ENDPOINT_URL": "http://admin:hunter2@127.0.0.1:1"},
        absent=("hunter2",),
    ),
    # a password in an endpoint URL is never printed
    Case(
        "config-show-url-with-a-password",
        ("config", "show"),
        0,
        ("http://***@127.0.0.1:1",),
        env={"WASYNC_ENDPOINT_URL_S3": "http://admin:hunter2@127.0.0.1:1"},
        absent=("hunter2",),
    ),
    Case(
        "config-show-json-url-with-a-password",
        ("config", "show", "--json"),
        0,
        ('"http://***@127.0.0.1:1"',),
        env={"WASYNC_ENDPOINT_URL_S3": "http://admin:hunter2@127.0.0.1:1"},
        absent=("hunter2",),
    ),
    *[
        Case(
            f"config-show-password-holding-{name}",
            ("config", "show"),
            0,
            ("http://***@127.0.0.1:1",),
            env={"WASYNC_ENDPOINT_URL_S3": f"http://admin:{password}@127.0.0.1:1"},
            absent=(password,),
        )
        for name, password in [
            ("a-quote", "hun'ter2"),
            ("an-at", "hunter2@x"),
            ("both", "a@'hunter2"),
        ]
    ],
    Case(
        "not-a-url-with-a-password",
        ("status",),
        USAGE,
        ("ftp://***@127.0.0.1:1", "is not a URL"),
        env={"WASYNC_ENDPOINT_URL_S3": "ftp://admin:hunter2@127.0.0.1:1"},
        absent=("hunter2",),
    ),
    # state files that are not what wasync wrote: treated as absent, never "unexpected"
    *[
        Case(
            f"stack-file-{name}",
            ("--local", "status"),
            USAGE,
            ("The local stack is not running", "wasync local up"),
            files={"state/stack.json": content},
        )
        for name, content in [
            ("a-list", b"[]"),
            ("null", b"null"),
            ("pid-null", b'{"pid": null, "moto_url": "x", "sagemaker_url": "y"}'),
            ("pid-huge", b'{"pid": 1e400, "moto_url": "x", "sagemaker_url": "y"}'),
        ]
    ],
    Case(
        "autoscale-target-zero",
        ("autoscale", "--min", "0", "--max", "1", "--target", "0"),
        USAGE,
        ("--target 0 is not allowed", "hint: pass the queued requests per instance"),
    ),
    *[
        Case(
            f"autoscale-target-{value}",  # NaN was applied, and --json printed NaN
            ("autoscale", "--min", "0", "--max", "1", "--target", value),
            USAGE,
            (f"--target {value} is not allowed", "a number greater than 0"),
        )
        for value in ("nan", "inf")
    ],
    Case(
        "remembered-values-not-an-object",
        ("deploy", "--dry-run"),
        USAGE,
        ("No model to deploy", "push-model"),
        files={"state/last-aws-us-east-1.json": b"[1, 2]"},
    ),
]


def base_env(tmp: Path) -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "XDG_CONFIG_HOME": str(tmp / "xdg-config"),
        "WASYNC_STATE_DIR": str(tmp / "state"),
    }


def run_unprivileged(argv: list[str], env: Mapping[str, str], cwd: Path) -> tuple[int, str]:
    """The CLI in a process that file permissions apply to, even when the tests run as root
    (as CI does): root keeps its uid but loses the capabilities that bypass them."""
    command = [sys.executable, "-m", "whisper_async.cli", *argv]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        assert setpriv, "setpriv (util-linux) is needed to drop root's file capabilities"
        command = [setpriv, "--bounding-set", "-dac_override,-dac_read_search", "--", *command]
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("WASYNC_", "AWS_"))}
    result = subprocess.run(
        command,
        env={**clean, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return result.returncode, result.stdout + result.stderr


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_refused_with_its_exit_code_and_a_message_naming_it(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.toml"
    if case.config is not None:
        config.write_bytes(case.config)
    for relative, content in case.files.items():
        target = tmp_path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)

    def fill(text: str) -> str:
        return text.replace("{tmp}", str(tmp_path)).replace("{config}", str(config))

    argv = [fill(a) for a in case.argv]
    env = {**base_env(tmp_path), **{k: fill(v) for k, v in case.env.items()}}
    monkeypatch.chdir(tmp_path)
    for name in [k for k in os.environ if k.startswith("WASYNC_")]:
        monkeypatch.delenv(name)

    if case.unreadable:
        for relative in case.unreadable:
            (tmp_path / relative).chmod(0)
        try:
            code, output = run_unprivileged(argv, env, tmp_path)
        finally:
            for relative in case.unreadable:
                (tmp_path / relative).chmod(0o755)
    elif case.own_process:
        code, output = run_unprivileged(argv, env, tmp_path)
    else:
        result = CliRunner().invoke(app, argv, env=env)
        code, output = result.exit_code, result.output

    assert code == case.code, output
    for fragment in case.fragments:
        assert fragment in output, f"{fragment!r} not in:\n{output}"
    assert "unexpected" not in output
    assert "Traceback" not in output
    error = output[output.find("error:") :].partition("\nhint:")[0].strip()
    assert "\n" not in error, f"the error runs over several lines:\n{output}"
    for secret in case.absent:
        assert secret not in output, output


def test_a_recursive_glob_through_linked_folders_ends(tmp_path: Path) -> None:
    """`'d/**/*.wav'` over a tree with links to its own folders: glob.glob would follow them
    for ever; the links are not descended, and each file is found once."""
    import threading

    from whisper_async.inputs import glob_audio

    (tmp_path / "d" / "sub").mkdir(parents=True)
    for name in ("d/b.wav", "d/sub/a.wav"):
        (tmp_path / name).write_bytes(b"RIFF")
    (tmp_path / "d" / "sub" / "up").symlink_to("..")
    (tmp_path / "d" / "self").symlink_to("../d")
    found: list[Path] = []
    walker = threading.Thread(
        target=lambda: found.extend(glob_audio(str(tmp_path / "d" / "**" / "*.wav"))),
        daemon=True,
    )
    walker.start()
    walker.join(timeout=120)  # a bound on failure only: the walk takes milliseconds
    assert not walker.is_alive(), "the glob is still walking the links"
    assert found == [tmp_path / "d" / "b.wav", tmp_path / "d" / "sub" / "a.wav"]


def test_a_folder_leaves_out_hidden_files_and_folders_and_linked_folders(tmp_path: Path) -> None:
    """A home folder's `.pyenv` held 53 packages' test audio, all sent by `transcribe ~`."""
    from whisper_async.inputs import walk

    home = tmp_path / "home"
    for name in ("talk.wav", "day1/call.mp3", ".cache/pkg/test.wav", "day1/.hidden.wav"):
        (home / name).parent.mkdir(parents=True, exist_ok=True)
        (home / name).write_bytes(b"RIFF")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "far.wav").write_bytes(b"RIFF")
    (home / "linked").symlink_to(tmp_path / "elsewhere")
    (home / "one.wav").symlink_to(tmp_path / "elsewhere" / "far.wav")
    found = [p.relative_to(home).as_posix() for p in walk(home)]
    assert found == ["one.wav", "talk.wav", "day1/call.mp3"]
    assert [p.name for p in walk(home / ".cache")] == ["test.wav"]  # named, it is read


@pytest.mark.parametrize("flags", [[], ["--debug"]], ids=["plain", "debug-traceback"])
def test_botocores_own_error_does_not_print_the_urls_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flags: list[str]
) -> None:
    """botocore quotes the endpoint URL whole when a connection closes before its answer (and
    --debug's traceback quotes it in every frame's locals and messages)."""
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def close_each_connection() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            connection.close()

    threading.Thread(target=close_each_connection, daemon=True).start()
    for name in [k for k in os.environ if k.startswith(("WASYNC_", "AWS_"))]:
        monkeypatch.delenv(name)
    env = {
        **base_env(tmp_path),
        "WASYNC_ENDPOINT_URL_S3": f"http://admin:hunter2@127.0.0.1:{port}",
        "AWS_MAX_ATTEMPTS": "1",
        "WASYNC_BUCKET": "recordings",  # no STS call for the default bucket's account
    }
    try:
        result = CliRunner().invoke(app, [*flags, "jobs"], env=env)
    finally:
        listener.close()
    assert result.exit_code == FAILURE, result.output
    assert ("Traceback" in result.output) == bool(flags)
    assert f"http://***@127.0.0.1:{port}" in result.output
    assert "hunter2" not in result.output
