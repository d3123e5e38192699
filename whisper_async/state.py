"""Values a command leaves for the next one: the image `build` pushed, the model `push-model`
uploaded. Kept per profile and region in the state directory, so `--image last` works."""

from __future__ import annotations

import json
from pathlib import Path

from .files import write_atomically
from .settings import Settings


def _path(settings: Settings, region: str) -> Path:
    return settings.state_dir / f"last-{settings.profile}-{region}.json"


def recall(settings: Settings, region: str, key: str) -> str | None:
    path = _path(settings, region)
    try:
        value = json.loads(path.read_text()).get(key)
    except (OSError, ValueError):
        return None
    return str(value) if value else None


def remember(settings: Settings, region: str, key: str, value: str) -> None:
    path = _path(settings, region)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        data = {}
    data[key] = value
    write_atomically(path, json.dumps(data, indent=2) + "\n")
