"""`wasync-model.json`: what a model.tar.gz holds, written by push-model, read by the server."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

MANIFEST_NAME = "wasync-model.json"
FORMAT_VERSION = 1
ENGINES = ("faster", "openai", "standin")  # standin: tests only (serving/standin.py)


class ModelLayoutError(ValueError):
    """The model directory holds nothing a wasync engine can load."""


@dataclass(frozen=True)
class Manifest:
    engine: str
    name: str
    sha256: str
    format_version: int = FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"


@dataclass(frozen=True)
class ModelLayout:
    """Which engine to start and what to give it."""

    engine: str
    weights: Path  # the .pt file (openai) or the CTranslate2 directory (faster)
    name: str
    manifest: Manifest | None


def read_manifest(model_dir: Path) -> Manifest | None:
    path = model_dir / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        manifest = Manifest(
            engine=str(data["engine"]),
            name=str(data["name"]),
            sha256=str(data["sha256"]),
            format_version=int(data.get("format_version", FORMAT_VERSION)),
        )
    except KeyError as exc:  # KeyError's text is the key alone: "'name'"
        raise ModelLayoutError(
            f"{path} is not a valid wasync manifest: it lacks {exc}; `wasync push-model` writes "
            "engine, name and sha256"
        ) from exc
    except (ValueError, TypeError) as exc:
        raise ModelLayoutError(f"{path} is not a valid wasync manifest: {exc}") from exc
    if manifest.format_version > FORMAT_VERSION:
        raise ModelLayoutError(
            f"{path} has format version {manifest.format_version}; this wasync reads up to "
            f"{FORMAT_VERSION}. Upgrade the serving image."
        )
    if manifest.engine not in ENGINES:
        raise ModelLayoutError(
            f"{path} names engine {manifest.engine!r}; known: {', '.join(ENGINES)}"
        )
    return manifest


SHOWN_NAMES = 5  # a folder of thousands (the wrong one) must not become a page of error


def _some_names(folder: Path) -> str:
    """The first few names in a folder, and how many more there are."""
    names = sorted(p.name for p in folder.iterdir())
    if not names:
        return "nothing"
    shown = ", ".join(names[:SHOWN_NAMES])
    more = len(names) - SHOWN_NAMES
    return f"{shown} and {more} more" if more > 0 else shown


def entry_kind(path: Path) -> str:
    """What an entry that is no regular file is, in words."""
    if path.is_symlink() and not path.exists():
        return "a link to nothing"
    if path.is_dir():
        return "a folder"
    if path.is_fifo():
        return "a named pipe"
    return "a device or socket"


def not_a_regular_file(path: Path) -> ModelLayoutError:
    return ModelLayoutError(
        f"{path} is not a regular file ({entry_kind(path)}), so it cannot be packaged or loaded"
    )


def detect_layout(model_dir: Path) -> ModelLayout:
    """Use the manifest if there is one; else recognise a .pt checkpoint or a CTranslate2 dir."""
    if not model_dir.is_dir():
        raise ModelLayoutError(f"model directory {model_dir} does not exist")
    # A pipe named model.pt would be read for ever; a dangling model.bin looked like no model
    for entry in [*model_dir.glob("*.pt"), model_dir / "model.bin", model_dir / "config.json"]:
        if os.path.lexists(entry) and not entry.is_file():
            raise not_a_regular_file(entry)
    manifest = read_manifest(model_dir)
    checkpoints = sorted(model_dir.glob("*.pt"))
    is_ctranslate2 = (model_dir / "model.bin").is_file() and (model_dir / "config.json").is_file()
    engine = manifest.engine if manifest else None
    if engine is None:
        if len(checkpoints) == 1:
            engine = "openai"
        elif is_ctranslate2:
            engine = "faster"
        else:
            found = _some_names(model_dir)
            raise ModelLayoutError(
                f"{model_dir} holds {found}: expected one *.pt checkpoint (openai-whisper) or "
                "model.bin plus config.json (faster-whisper)"
            )
    if engine == "standin":  # named by a test manifest only, never detected
        return ModelLayout("standin", model_dir, manifest.name if manifest else "standin", manifest)
    if engine == "openai":
        if len(checkpoints) != 1:
            raise ModelLayoutError(f"{model_dir} must hold exactly one *.pt checkpoint")
        name = manifest.name if manifest else checkpoints[0].stem
        return ModelLayout("openai", checkpoints[0], name, manifest)
    if not is_ctranslate2:
        raise ModelLayoutError(f"{model_dir} lacks model.bin and config.json for faster-whisper")
    return ModelLayout("faster", model_dir, manifest.name if manifest else model_dir.name, manifest)
