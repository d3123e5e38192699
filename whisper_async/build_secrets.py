"""The host's pip settings and CA bundle, handed to the image build as build secrets.

Behind a TLS-inspecting proxy or a company package mirror, pip inside the build needs the same
index and CA as pip on the host. They travel as `--secret` files, which the Dockerfile mounts
for the one `pip install` step (`RUN --mount=type=secret`): they never land in a layer, so an
index URL with a token in it does not end up in the pushed image.

Only settings that mean the same inside the build are forwarded; host paths (constraint files,
local find-links, file:// indexes) do not exist there and are left out by name.
"""

from __future__ import annotations

import configparser
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

SECRET_DIR = "/run/secrets"  # noqa: S105 - a mount point, not a password
PIP_CONF_ID = "pip.conf"
CA_BUNDLE_ID = "ca-bundle"
# Settings that mean the same inside the build. `cert` is forwarded as the ca-bundle secret.
FORWARDED = (
    "index-url",
    "extra-index-url",
    "trusted-host",
    "timeout",
    "default-timeout",
    "retries",
    "proxy",
    "no-index",
    "find-links",
)
URL_SETTINGS = {"index-url", "extra-index-url", "find-links"}
CA_ENVIRONMENT = ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")


@dataclass(frozen=True)
class PipSettings:
    values: dict[str, str]  # forwarded settings, as pip writes them in a config file
    cert: Path | None  # the CA bundle pip on the host uses, if one is configured
    dropped: tuple[str, ...]  # settings left out, with the reason


@dataclass(frozen=True)
class BuildSecret:
    id: str
    source: Path

    def argument(self) -> str:
        return f"id={self.id},src={self.source}"


def config_files(environ: Mapping[str, str], home: Path) -> list[Path]:
    """pip's configuration files in the order pip reads them (later ones win)."""
    if environ.get("PIP_CONFIG_FILE") == os.devnull:
        return []
    dirs = environ.get("XDG_CONFIG_DIRS", "/etc/xdg").split(":")
    files = [Path(d) / "pip" / "pip.conf" for d in dirs if d]
    files.append(Path("/etc/pip.conf"))
    files.append(home / ".pip" / "pip.conf")
    files.append(Path(environ.get("XDG_CONFIG_HOME") or home / ".config") / "pip" / "pip.conf")
    files.append(Path(sys.prefix) / "pip.conf")
    if environ.get("PIP_CONFIG_FILE"):
        files.append(Path(environ["PIP_CONFIG_FILE"]))
    return files


def _usable_inside_build(key: str, value: str) -> str | None:
    """Why a setting cannot be forwarded, or None when it can."""
    if key not in URL_SETTINGS:
        return None
    kept = [v for v in value.split() if v.startswith(("http://", "https://"))]
    return None if kept and len(kept) == len(value.split()) else "a local path or file:// URL"


def host_pip_settings(
    environ: Mapping[str, str] | None = None, files: Sequence[Path] | None = None
) -> PipSettings:
    """The pip settings on this host (files, then PIP_* variables), split into what the build
    can use and what it cannot."""
    environ = os.environ if environ is None else environ
    files = config_files(environ, Path.home()) if files is None else files
    merged: dict[str, str] = {}
    parser = configparser.RawConfigParser()
    for path in files:
        if not path.is_file():
            continue
        parser.clear()
        try:
            parser.read(path)
        except (configparser.Error, OSError, UnicodeDecodeError):
            continue  # pip would refuse such a file too; the build simply goes without it
        for section in ("global", "install", "download"):
            if parser.has_section(section):
                merged.update({k.replace("_", "-"): v for k, v in parser.items(section)})
    for name, value in environ.items():
        if name.startswith("PIP_") and name != "PIP_CONFIG_FILE":
            merged[name[4:].lower().replace("_", "-")] = value
    values, dropped = {}, []
    for key, value in sorted(merged.items()):
        if key == "cert":
            continue
        if key not in FORWARDED:
            dropped.append(f"{key} (only meaningful on this host)")
            continue
        reason = _usable_inside_build(key, value)
        if reason:
            dropped.append(f"{key} ({reason})")
            continue
        values[key] = " ".join(value.split())
    cert_value = merged.get("cert") or next(
        (environ[name] for name in CA_ENVIRONMENT if environ.get(name)), None
    )
    cert = Path(cert_value).expanduser() if cert_value else None
    if cert is not None and not cert.is_file():
        dropped.append(f"cert ({cert} is not a file)")
        cert = None
    return PipSettings(values, cert, tuple(dropped))


def write_secrets(settings: PipSettings, directory: Path) -> list[BuildSecret]:
    """The secret files for a build, readable by this user only; none when the host has no pip
    settings to forward."""
    secrets = []
    values = dict(settings.values)
    if settings.cert is not None:
        bundle = directory / "ca-bundle.pem"
        bundle.touch(mode=0o600)
        bundle.write_bytes(settings.cert.read_bytes())
        secrets.append(BuildSecret(CA_BUNDLE_ID, bundle))
        values["cert"] = f"{SECRET_DIR}/{CA_BUNDLE_ID}"
    if values:
        conf = directory / "pip.conf"
        conf.touch(mode=0o600)
        conf.write_text("[global]\n" + "".join(f"{k} = {v}\n" for k, v in values.items()))
        secrets.insert(0, BuildSecret(PIP_CONF_ID, conf))
    return secrets
