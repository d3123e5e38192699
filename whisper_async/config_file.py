"""Read the config file: UTF-8 TOML whose keys are known and whose values have the right type.

Every problem is a ConfigurationError (exit 2) that names the file, the key and what to write
instead; nothing in a config file reaches the rest of wasync unchecked.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Collection
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, from PyPI (a base requirement there)
    import tomli as tomllib

from .errors import ConfigurationError

URLS_KEY = "endpoint_urls"


# parsed type -> its TOML name, for messages; bool before int (a bool is an int in Python)
TOML_TYPES: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (bool, "a boolean"),
    (int, "an integer"),
    (float, "a float"),
    (str, "a string"),
    (list, "an array"),
    (dict, "a table"),
    ((dt.datetime, dt.date, dt.time), "a date or time"),
)


def toml_type(value: Any) -> str:
    return next((name for kind, name in TOML_TYPES if isinstance(value, kind)), "a value")


def _parse(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(
            f"Cannot read config file {path}: {exc.strerror or exc}.",
            "check its permissions, or pass another file with --config",
        ) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigurationError(
            f"Config file {path} is not UTF-8 text: byte 0x{raw[exc.start]:02x} on line {line}.",
            "save it as UTF-8 (TOML files must be UTF-8)",
        ) from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(
            f"Config file {path} is not valid TOML: {exc}.", "fix the TOML syntax or pass --config"
        ) from exc


def _check(
    path: Path, values: dict[str, Any], keys: Collection[str], services: Collection[str]
) -> None:
    unknown = set(values) - set(keys) - {URLS_KEY}
    if unknown:
        raise ConfigurationError(
            f"Unknown key(s) in {path}: {', '.join(sorted(unknown))}",
            f"allowed keys: {', '.join(sorted(keys))}, {URLS_KEY}",
        )
    for key in keys:
        if key in values and not isinstance(values[key], str):
            raise ConfigurationError(
                f"In {path}, {key} must be a string, not {toml_type(values[key])} "
                f"({values[key]!r}).",
                f'write it in quotes: {key} = "..."',
            )
    urls = values.get(URLS_KEY, {})
    if not isinstance(urls, dict):
        raise ConfigurationError(
            f"In {path}, {URLS_KEY} must be a table of service = URL, not {toml_type(urls)} "
            f"({urls!r}).",
            f'write it as a table: [{URLS_KEY}] then one line per service, s3 = "http://127.0.0.1:4566"',
        )
    for service, url in urls.items():
        if service not in services:
            raise ConfigurationError(
                f"In {path}, [{URLS_KEY}] names an unknown service {service!r}.",
                f"services: {', '.join(services)}",
            )
        if not isinstance(url, str):
            raise ConfigurationError(
                f"In {path}, {URLS_KEY}.{service} must be a string, not {toml_type(url)} "
                f"({url!r}).",
                f'write it in quotes: {service} = "http://127.0.0.1:4566"',
            )


def read_config(
    path: Path, explicit: bool, keys: Collection[str], services: Collection[str]
) -> dict[str, Any]:
    """The checked contents of `path`; {} when the default file does not exist.

    `keys` are the settings a file may set (each a string), `services` the names that
    [endpoint_urls] may hold.
    """
    if path.is_dir():
        raise ConfigurationError(
            f"Config file {path} is a directory.", "pass the path of a TOML file, not a folder"
        )
    if not path.exists():
        if explicit:
            raise ConfigurationError(
                f"Config file {path} does not exist.", "check --config or WASYNC_CONFIG"
            )
        return {}
    values = _parse(path)
    _check(path, values, keys, services)
    return values
