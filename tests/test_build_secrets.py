"""The host's pip settings: what reaches the build as secrets, and what stays on the host."""

from __future__ import annotations

import stat
from pathlib import Path

from whisper_async.build_secrets import config_files, host_pip_settings, write_secrets


def settings_from(tmp_path: Path, conf: str, **environ: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "pip.conf"
    path.write_text(conf)
    return host_pip_settings(environ, files=[tmp_path / "absent.conf", path])


def test_mirror_and_ca_are_forwarded_host_paths_are_left_out_by_name(tmp_path: Path) -> None:
    bundle = tmp_path / "company-ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    found = settings_from(
        tmp_path,
        "[global]\n"
        "index-url = https://token@mirror.example/simple\n"
        f"cert = {bundle}\n"
        "constraint = /etc/pip/constraints.txt\n"
        "extra-index-url = file:///opt/pypi/simple\n"
        "[install]\ntrusted-host = mirror.example\n",
        PIP_DEFAULT_TIMEOUT="120",
        PIP_FIND_LINKS="/opt/wheels",
    )
    assert found.values == {
        "index-url": "https://token@mirror.example/simple",
        "trusted-host": "mirror.example",
        "default-timeout": "120",
    }
    assert found.cert == bundle
    dropped = " ".join(found.dropped)
    for name in ("constraint", "extra-index-url", "find-links"):
        assert name in dropped


def test_ca_bundle_from_requests_ca_bundle_when_pip_names_none(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("x")
    found = settings_from(tmp_path, "[global]\n", REQUESTS_CA_BUNDLE=str(bundle))
    assert found.cert == bundle and found.values == {}


def test_secret_files_are_private_and_point_pip_at_the_mounted_bundle(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("BUNDLE")
    found = settings_from(
        tmp_path, "[global]\nindex-url = https://m.example/simple\n", PIP_CERT=str(bundle)
    )
    out = tmp_path / "secrets"
    out.mkdir()
    secrets = write_secrets(found, out)
    assert [s.id for s in secrets] == ["pip.conf", "ca-bundle"]
    conf, ca = (s.source for s in secrets)
    assert conf.read_text() == (
        "[global]\nindex-url = https://m.example/simple\ncert = /run/secrets/ca-bundle\n"
    )
    assert ca.read_text() == "BUNDLE"
    for path in (conf, ca):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_no_settings_no_secrets(tmp_path: Path) -> None:
    found = settings_from(tmp_path, "")
    assert write_secrets(found, tmp_path) == []


def test_pip_reads_its_files_in_order_and_the_environment_file_last(tmp_path: Path) -> None:
    files = config_files({"PIP_CONFIG_FILE": "/x/pip.conf", "XDG_CONFIG_DIRS": "/a:/b"}, tmp_path)
    assert files[:3] == [Path("/a/pip/pip.conf"), Path("/b/pip/pip.conf"), Path("/etc/pip.conf")]
    assert files[-1] == Path("/x/pip.conf")
    assert config_files({"PIP_CONFIG_FILE": "/dev/null"}, tmp_path) == []
