"""The lifecycle commands through Typer's runner: exit codes, messages, --json."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.helpers.metrics import made_earlier, put_backlog
from tests.helpers.models import checkpoint_file
from whisper_async.cli.app import app

ROLE = "arn:aws:iam::123456789012:role/wasync-test"
DEPLOY = (
    "--role",
    ROLE,
    "deploy",
    "--instance",
    "ml.g4dn.xlarge",
    "--image-uri",
    "example/wasync:1",
)


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args))


def test_no_credentials_is_one_line_with_how_to_configure(
    aws_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(aws_env / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(aws_env / "none"))
    result = run("status")
    assert result.exit_code == 2
    assert "No AWS credentials found" in result.stderr
    assert "aws configure" in result.stderr
    assert "Traceback" not in result.output


def test_lifecycle_through_the_cli(moto_clients, tmp_path: Path) -> None:
    checkpoint = tmp_path / "tiny.pt"
    checkpoint_file(checkpoint)
    pushed = run("--json", "push-model", str(checkpoint))
    assert pushed.exit_code == 0, pushed.output
    uri = json.loads(pushed.stdout)["uri"]

    missing_role = run("deploy", "--instance", "ml.g4dn.xlarge", "--image-uri", "example/wasync:1")
    assert missing_role.exit_code == 2
    assert "No SageMaker execution role" in missing_role.stderr

    unknown_model = run(
        *DEPLOY,
        "--model",
        "s3://sagemaker-us-east-1-123456789012/wasync/models/nope/model.tar.gz",
    )
    assert unknown_model.exit_code == 1
    assert "does not exist" in unknown_model.stderr

    dry = run(*DEPLOY, "--dry-run")
    assert dry.exit_code == 0 and "create_endpoint_config" in dry.stdout
    assert moto_clients.client("sagemaker").list_models()["Models"] == []

    deployed = run(
        "--json",
        *DEPLOY,
    )
    assert deployed.exit_code == 0, deployed.output
    assert json.loads(deployed.stdout)["model_uri"] == uri

    scaled = run("--json", "autoscale", "--min", "0", "--max", "2", "--scale-in-cooldown", "15m")
    assert scaled.exit_code == 0, scaled.output
    settings = json.loads(scaled.stdout)
    assert settings["alarm"] == "wasync-whisper-scale-out-from-zero"
    assert (settings["scale_in_cooldown"], settings["scale_out_cooldown"]) == (900, 60)

    status = run("--json", "status")
    report = json.loads(status.stdout)
    assert report["status"] == "InService" and report["autoscaling"]["scale_out_from_zero"] is True

    human = run("status")
    assert "InService" in human.stdout and "0-2" in human.stdout
    assert "backlog" in human.stdout and "no data" in human.stdout

    # CloudWatch's latest minute can be minutes old: status says how old, not just the value
    minute = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=90)
    put_backlog(moto_clients.client("cloudwatch"), 3.0, minute - dt.timedelta(minutes=5))
    made_earlier("whisper", minutes=3)  # the datapoint 5 minutes ago was an earlier endpoint's
    assert json.loads(run("--json", "status").stdout)["backlog"] is None
    put_backlog(moto_clients.client("cloudwatch"), 3.0, minute)
    report = json.loads(run("--json", "status").stdout)
    assert report["backlog"] == 3.0 and report["backlog_at"].startswith(minute.date().isoformat())
    shown = minute.strftime("%H:%M UTC")
    assert re.search(rf"3 \(as of {shown}, [12] min ago\)", run("status").stdout)

    # no terminal to ask (CliRunner's stdin, a script's): refused before anything is deleted
    unasked = run("delete")
    assert unasked.exit_code == 2 and "pass --yes" in unasked.stderr
    assert "delete_endpoint" in unasked.stderr  # what it would remove is listed first
    # and the work it still holds, which deleting it loses (the backlog put above)
    assert "had 3 request(s) queued or running as of" in unasked.stderr
    assert run("--json", "status").exit_code == 0
    deleted = run("delete", "--yes")
    assert deleted.exit_code == 0
    assert "had 3 request(s) queued or running" in deleted.stderr  # --yes is told too
    gone = run("status")
    assert gone.exit_code == 1 and "does not exist" in gone.stderr


def test_a_concurrency_above_sagemakers_limit_is_refused_before_any_call(moto_clients) -> None:
    """It failed mid-deploy, exit 1, once a model had been made."""
    result = run(*DEPLOY, "--model", "s3://b/m.tar.gz", "--max-concurrency", "100000")
    assert result.exit_code == 2, result.output
    assert "--max-concurrency 100000 is out of range: SageMaker accepts 1 to 1000" in result.stderr
    models = moto_clients.client("sagemaker").list_models()["Models"]
    assert models == []


@pytest.mark.parametrize("flag", ["--initial-count", "--max-concurrency"])
def test_a_count_below_one_names_its_option_and_what_to_do(moto_clients, flag: str) -> None:
    """Both options were named in one line with no hint, whichever was passed."""
    result = run(*DEPLOY, "--model", "s3://b/m.tar.gz", flag, "0", "--dry-run")
    assert result.exit_code == 2, result.output
    other = {"--initial-count", "--max-concurrency"} - {flag}
    assert f"{flag} 0 is not allowed" in result.stderr and other.pop() not in result.stderr
    assert "hint: " in result.stderr


def test_iam_prints_valid_json_documents(moto_clients) -> None:
    result = run("--json", "iam")
    assert result.exit_code == 0
    docs = json.loads(result.stdout)
    assert docs["trust_policy"]["Statement"][0]["Action"] == "sts:AssumeRole"
    assert {s["Sid"] for s in docs["execution_policy"]["Statement"]} >= {
        "ReadModelsAndInputs",
        "WriteResults",
        "PullImage",
    }


def test_deploy_timeout_0_is_refused_as_usage(moto_clients) -> None:
    result = run(*DEPLOY, "--timeout", "0")
    assert result.exit_code == 2 and "--no-wait" in result.stderr
    assert moto_clients.client("sagemaker").list_models()["Models"] == []


def test_autoscale_off_with_settings_names_the_ones_it_would_ignore(moto_clients) -> None:
    result = run("autoscale", "--off", "--max", "3", "--scale-in-cooldown", "60")
    assert result.exit_code == 2
    assert "--max, --scale-in-cooldown would be ignored" in result.stderr
