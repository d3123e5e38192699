from __future__ import annotations

import re
from pathlib import Path

import pytest

from whisper_async.errors import ConfigurationError
from whisper_async.settings import resolve


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_flag_beats_environment_beats_file_beats_default(tmp_path: Path) -> None:
    config = write_config(
        tmp_path, 'endpoint = "from-file"\nbucket = "file-bucket"\nregion = "eu-west-1"\n'
    )
    env = {"WASYNC_ENDPOINT": "from-env", "WASYNC_BUCKET": "env-bucket"}

    settings = resolve({"endpoint": "from-flag"}, env, config)

    assert settings.endpoint == "from-flag"
    assert settings.sources["endpoint"] == "flag"
    assert settings.bucket == "env-bucket"
    assert settings.sources["bucket"] == "env WASYNC_BUCKET"
    assert settings.region == "eu-west-1"
    assert settings.sources["region"] == f"file {config}"
    assert settings.prefix == "wasync/"
    assert settings.sources["prefix"] == "default"


def test_defaults_when_nothing_is_set(tmp_path: Path) -> None:
    settings = resolve({}, {"XDG_CONFIG_HOME": str(tmp_path)})
    assert settings.endpoint == "whisper"
    assert settings.bucket is None
    assert settings.region is None
    assert not settings.is_local


def test_aws_region_variable_is_a_fallback_below_wasync_region(tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path), "AWS_REGION": "us-west-2"}
    assert resolve({}, env).region == "us-west-2"
    assert resolve({}, {**env, "WASYNC_REGION": "ap-south-1"}).region == "ap-south-1"


@pytest.mark.parametrize(
    "name", ["bad name!", "-lead", "trail-", "under_score", "x" * 64, "a" + "-" * 62 + "b"]
)
def test_an_endpoint_name_sagemaker_refuses_is_a_configuration_error(
    tmp_path: Path, name: str
) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    with pytest.raises(ConfigurationError, match="is not one SageMaker accepts") as info:
        resolve({"endpoint": name}, env)
    assert info.value.exit_code == 2 and "(from flag)" in info.value.message
    assert resolve({"endpoint": "a--b-" + "x" * 58}, env).endpoint.startswith("a--b")


def test_prefix_is_normalised_to_one_trailing_slash(tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    assert resolve({"prefix": "/team/asr"}, env).prefix == "team/asr/"
    assert resolve({"prefix": "/"}, env).prefix == ""


@pytest.mark.parametrize("prefix", ["../..", "team/../x", "./wasync"])
def test_a_prefix_with_a_dot_folder_is_refused_naming_its_source(
    tmp_path: Path, prefix: str
) -> None:
    """WASYNC_PREFIX='../..' wrote keys ../../jobs/...: kept by S3, out of the folder once
    downloaded."""
    env = {"XDG_CONFIG_HOME": str(tmp_path), "WASYNC_PREFIX": prefix}
    with pytest.raises(
        ConfigurationError, match=re.escape("holds a '.' or '..' folder")
    ) as refused:
        resolve({}, env)
    assert refused.value.exit_code == 2 and "env WASYNC_PREFIX" in refused.value.message
    assert resolve({"prefix": "team.v2/wasync"}, env).prefix == "team.v2/wasync/"


def test_per_service_endpoint_urls_from_file_and_environment(tmp_path: Path) -> None:
    config = write_config(
        tmp_path, '[endpoint_urls]\ns3 = "http://127.0.0.1:1"\nsts = "http://127.0.0.1:2"\n'
    )
    env = {"WASYNC_ENDPOINT_URL_S3": "http://127.0.0.1:9"}
    settings = resolve({}, env, config)
    assert settings.endpoint_urls == {"s3": "http://127.0.0.1:9", "sts": "http://127.0.0.1:2"}
    # `config show` says where each came from
    assert settings.sources["endpoint_url.s3"] == "env WASYNC_ENDPOINT_URL_S3"
    assert settings.sources["endpoint_url.sts"] == f"file {config}"


def test_the_local_profile_names_the_stack_file_as_its_urls_source(tmp_path: Path) -> None:
    import json

    state = tmp_path / "state"
    state.mkdir()
    stack = {"pid": 1, "moto_url": "http://127.0.0.1:5", "sagemaker_url": "http://127.0.0.1:6"}
    (state / "stack.json").write_text(json.dumps(stack))
    env = {"XDG_CONFIG_HOME": str(tmp_path), "WASYNC_ENDPOINT_URL_S3": "http://127.0.0.1:9"}
    settings = resolve({"profile": "local", "state_dir": str(state)}, env)
    assert settings.endpoint_urls["sagemaker"] == "http://127.0.0.1:6"
    assert settings.sources["endpoint_url.sagemaker"] == f"local stack ({state / 'stack.json'})"
    assert settings.sources["endpoint_url.s3"] == "env WASYNC_ENDPOINT_URL_S3"


def test_the_local_profile_without_a_stack_here_follows_the_exported_variables(
    tmp_path: Path,
) -> None:
    """`eval "$(wasync local env)"` in a shell with its own WASYNC_STATE_DIR: the stack runs, the
    variables point at it, and the AWS CLI uses them; wasync said the stack was not running and
    to start another (an empty one)."""
    env = {
        "XDG_CONFIG_HOME": str(tmp_path),
        "AWS_ENDPOINT_URL_SAGEMAKER": "http://127.0.0.1:6",
        "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:5",
    }
    settings = resolve({"profile": "local", "state_dir": str(tmp_path / "elsewhere")}, env)
    assert settings.endpoint_urls["sagemaker"] == "http://127.0.0.1:6"
    assert settings.sources["endpoint_url.s3"] == "env AWS_ENDPOINT_URL_S3"
    bare = resolve({"profile": "local", "state_dir": str(tmp_path / "elsewhere")}, {})
    assert "sagemaker" not in bare.endpoint_urls  # and Clients says no stack is running


def test_aws_profile_flag_under_the_local_profile_is_refused_and_a_standing_one_ignored(
    tmp_path: Path,
) -> None:
    """--aws-profile with --local contradicts itself: it was ignored without a word, and the
    user believed the named account was used. WASYNC_AWS_PROFILE set for every shell is not."""
    state = str(tmp_path / "state")
    with pytest.raises(ConfigurationError, match="--aws-profile prod names AWS credentials"):
        resolve({"profile": "local", "aws_profile": "prod", "state_dir": state}, {})
    standing = {"XDG_CONFIG_HOME": str(tmp_path), "WASYNC_AWS_PROFILE": "prod"}
    assert resolve({"profile": "local", "state_dir": state}, standing).is_local


def test_the_local_stack_serves_one_region_and_a_standing_aws_region_gives_way(
    tmp_path: Path,
) -> None:
    """`--region eu-west-1` with the stack made an endpoint that looked served while the stack's
    scaler, which runs in us-east-1, never scaled it. AWS_REGION or a config file's region is
    meant for AWS and gives way; a region asked for on the command line is refused."""
    state = str(tmp_path / "state")
    config = write_config(tmp_path, 'region = "ap-south-1"\n')
    ambient = {"XDG_CONFIG_HOME": str(tmp_path), "AWS_REGION": "eu-west-1"}
    for env, path in ((ambient, None), ({"XDG_CONFIG_HOME": str(tmp_path)}, config)):
        settings = resolve({"profile": "local", "state_dir": state}, env, path)
        assert (settings.region, settings.sources["region"]) == ("us-east-1", "local profile")
    for flags, env in (
        ({"region": "eu-west-1"}, {}),
        ({}, {"WASYNC_REGION": "eu-west-1"}),
    ):
        with pytest.raises(ConfigurationError, match="serves us-east-1 only") as refused:
            resolve({"profile": "local", "state_dir": state, **flags}, env)
        assert refused.value.exit_code == 2 and "--region us-east-1" in str(refused.value.hint)


def test_unknown_config_key_is_refused_with_the_allowed_keys(tmp_path: Path) -> None:
    config = write_config(tmp_path, 'endpiont = "typo"\n')
    with pytest.raises(ConfigurationError) as info:
        resolve({}, {}, config)
    assert "endpiont" in info.value.message
    assert "endpoint" in (info.value.hint or "")


def test_broken_toml_names_the_file(tmp_path: Path) -> None:
    config = write_config(tmp_path, "region = \n")
    with pytest.raises(ConfigurationError, match=str(config)):
        resolve({}, {}, config)


def test_one_service_name_map_for_wasync_and_aws_endpoint_variables(tmp_path: Path) -> None:
    """WASYNC_ENDPOINT_URL_<NAME> uses botocore's names, the ones `local env` exports."""
    from whisper_async.local.profile import env_variables
    from whisper_async.settings import SERVICE_ENV_NAMES, StackInfo

    settings = resolve({}, {"WASYNC_ENDPOINT_URL_CLOUDWATCH_LOGS": "http://127.0.0.1:9"})
    assert settings.endpoint_urls == {"logs": "http://127.0.0.1:9"}
    exported = env_variables(StackInfo(1, "http://m", "http://s", tmp_path))
    for service, name in SERVICE_ENV_NAMES.items():
        assert f"AWS_ENDPOINT_URL_{name}" in exported, service


def test_local_env_lines_survive_a_shells_eval_as_one_value_each(tmp_path: Path) -> None:
    """`eval "$(wasync local env)"` with a state folder named `trial sp` exported `sp/...` as a
    variable name, and a `$(...)` in the name would have run."""
    import subprocess

    from whisper_async.local.profile import export_lines

    folder = str(tmp_path / "trial sp;$(touch ran)'\"")
    lines = "\n".join(export_lines({"WASYNC_STATE_DIR": folder, "AWS_REGION": "us-east-1"}))
    shown = subprocess.run(
        ["bash", "-c", 'eval "$LINES" && printf %s "$WASYNC_STATE_DIR"'],
        env={"LINES": lines, "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout == folder
    assert not (tmp_path / "ran").exists()
