"""Values a command leaves for the next one: the image `build` pushed, the model `push-model`
uploaded. Kept per profile and region in the state directory, so `--image last` works."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import files
from .errors import ConfigurationError
from .files import write_atomically
from .settings import Settings

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; two commands finishing at once may race
    fcntl = None  # type: ignore[assignment]


def _path(settings: Settings, region: str) -> Path:
    return settings.state_dir / f"last-{settings.profile}-{region}.json"


def _read(path: Path) -> dict[str, Any]:
    """The remembered values; none from a file that is missing, corrupt or not an object."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Held while a value is added: `build` and `push-model` finishing together each read,
    change and write the file, and without it one of the two values was lost."""
    if fcntl is None:
        yield
        return
    with path.with_name(path.name + ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def check_writable(settings: Settings) -> None:
    """Refuse now, before an upload or a build, a state folder the command could not write
    its value to at the end (the work would be done and its result not kept)."""
    try:
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        files.check_writable(settings.state_dir)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot write wasync's state folder {settings.state_dir}: {exc.strerror or exc}",
            "set WASYNC_STATE_DIR to a folder you can write; it keeps what "
            "build and push-model made, for deploy",
        ) from None


def recall(settings: Settings, region: str, key: str) -> str | None:
    value = _read(_path(settings, region)).get(key)
    return value if isinstance(value, str) and value else None


def remember(settings: Settings, region: str, key: str, value: str) -> None:
    path = _path(settings, region)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path):
        data = _read(path)
        data[key] = value
        write_atomically(path, json.dumps(data, indent=2) + "\n")
