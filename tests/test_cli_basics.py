from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from whisper_async import __version__
from whisper_async.cli.app import app

SUBCOMMANDS = [
    "build",
    "push-model",
    "deploy",
    "autoscale",
    "transcribe",
    "fetch",
    "status",
    "delete",
    "logs",
    "iam",
    "local",
    "jobs",
    "config",
]


def test_help_lists_every_subcommand() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in SUBCOMMANDS:
        assert f" {name} " in result.output or f" {name}\n" in result.output, name


def test_help_summaries_are_whole_on_80_columns() -> None:
    """Click cuts a summary that does not fit with "..."; each group's list shows them whole."""
    for group in ([], ["local"], ["config"]):
        result = CliRunner().invoke(app, [*group, "--help"], env={"COLUMNS": "80"})
        assert result.exit_code == 0, result.output
        listed = result.output.split("Commands:")[1]
        assert "..." not in listed, listed
        assert max(len(line) for line in listed.splitlines()) <= 80


def test_version_flag_prints_the_package_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"wasync {__version__}"


def test_config_show_json_reports_each_value_and_its_source(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["--json", "--region", "eu-central-1", "config", "show"],
        env={"WASYNC_ENDPOINT": "asr", "XDG_CONFIG_HOME": str(tmp_path)},
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["region"] == {"value": "eu-central-1", "source": "flag"}
    assert data["endpoint"] == {"value": "asr", "source": "env WASYNC_ENDPOINT"}
    assert data["prefix"] == {"value": "wasync/", "source": "default"}
    assert data["bucket"] == {"value": None, "source": "default"}
    human = CliRunner().invoke(app, ["config", "show"], env={"XDG_CONFIG_HOME": str(tmp_path)})
    assert "sagemaker-{region}-{account}" in human.stdout  # what an unset bucket becomes


def test_unknown_option_is_a_usage_error_with_exit_code_2() -> None:
    result = CliRunner().invoke(app, ["--no-such-flag"])
    assert result.exit_code == 2


def test_missing_config_file_exits_2_with_a_hint(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["--config", str(tmp_path / "missing.toml"), "config", "show"])
    assert result.exit_code == 2
    assert "does not exist" in result.stderr
    assert "Traceback" not in result.output


def test_base_install_does_not_import_torch_or_engines() -> None:
    code = (
        "import sys; from whisper_async.cli.app import app; import whisper_async.serving.app;"
        "print(sorted(m for m in ('torch','whisper','faster_whisper','ctranslate2') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_base_dependencies_leave_out_torch_and_the_engines() -> None:
    from tests.helpers.declared import pyproject as read_pyproject

    pyproject = read_pyproject()
    base = " ".join(pyproject["project"]["dependencies"]).lower()
    for heavy in ("torch", "whisper", "starlette", "moto", "sagemaker"):
        assert heavy not in base
    assert "torch" in " ".join(pyproject["project"]["optional-dependencies"]["openai"])


_INTERRUPT_WHILE_IMPORTING = """
import os, signal, sys

class InterruptOnImport:  # Ctrl-C arrives while the CLI's modules are being imported
    def find_spec(self, name, path=None, target=None):
        if name == "whisper_async.cli.app":
            os.kill(os.getpid(), signal.SIGINT)
        return None

sys.meta_path.insert(0, InterruptOnImport())
sys.argv = ["wasync", "--version"]
from whisper_async.cli.entry import main
main()
"""


_INTERRUPT_WHILE_PARSING = """
import os, signal, sys
from whisper_async.cli import context

original = context.AppContext.__init__

def interrupting(self, *args, **kwargs):  # Ctrl-C while the global options are parsed
    os.kill(os.getpid(), signal.SIGINT)
    original(self, *args, **kwargs)

context.AppContext.__init__ = interrupting
sys.argv = ["wasync", "status"]
from whisper_async.cli.entry import main
main()
"""


@pytest.mark.parametrize(
    "script",
    [_INTERRUPT_WHILE_IMPORTING, _INTERRUPT_WHILE_PARSING],
    ids=["importing", "parsing-options"],
)
def test_ctrl_c_before_a_command_starts_exits_130_with_one_word(script: str) -> None:
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 130, done.stderr
    assert done.stderr == "interrupted\n" and done.stdout == ""
