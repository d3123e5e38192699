"""Turn what the user typed (files, folders, globs, s3:// URIs, `-`) into a list of inputs."""

from __future__ import annotations

import glob
import mimetypes
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import UsageError

AUDIO_EXTENSIONS = frozenset(
    [
        ".aac",
        ".aif",
        ".aiff",
        ".amr",
        ".flac",
        ".m4a",
        ".mp3",
        ".mpga",
        ".oga",
        ".ogg",
        ".opus",
        ".wav",
        ".weba",
        ".wma",
        ".3gp",
        ".avi",
        ".m4v",
        ".mkv",
        ".mov",
        ".mp4",
        ".mpeg",
        ".mpg",
        ".ts",
        ".webm",
    ]
)
CONTENT_TYPES = {
    ".wav": "audio/wav",
    ".mp3": "audio/mpeg",
    ".flac": "audio/flac",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/opus",
    ".m4a": "audio/mp4",
    ".aac": "audio/aac",
    ".webm": "audio/webm",
    ".weba": "audio/webm",
    ".mp4": "video/mp4",
    ".mkv": "video/x-matroska",
    ".mov": "video/quicktime",
    ".amr": "audio/amr",
}


@dataclass(frozen=True)
class Input:
    """One thing to transcribe: a local file or an object already in S3."""

    display: str
    path: Path | None = None
    s3_uri: str | None = None

    @property
    def stem(self) -> str:
        name = self.path.name if self.path else (self.s3_uri or "").rsplit("/", 1)[-1]
        return name.rsplit(".", 1)[0] if "." in name else name

    @property
    def suffix(self) -> str:
        name = self.path.name if self.path else (self.s3_uri or "").rsplit("/", 1)[-1]
        return ("." + name.rsplit(".", 1)[1].lower()) if "." in name else ""


def content_type(suffix: str) -> str:
    return (
        CONTENT_TYPES.get(suffix.lower())
        or mimetypes.guess_type(f"x{suffix}")[0]
        or "application/octet-stream"
    )


def _walk(directory: Path) -> list[Path]:
    """The audio and video files under `directory`; a folder that cannot be read is an error,
    never a silent gap in the batch."""
    unreadable: list[OSError] = []
    found = []
    for folder, _, names in os.walk(directory, onerror=unreadable.append):
        found += [Path(folder) / n for n in names if Path(n).suffix.lower() in AUDIO_EXTENSIONS]
    if unreadable:
        error = unreadable[0]
        raise UsageError(
            f"cannot read folder {error.filename}: {error.strerror or error}",
            "check its permissions, or pass the files you can read",
        )
    return sorted(p for p in found if p.is_file())


def expand(arguments: Sequence[str], stdin_lines: Iterable[str] = ()) -> list[Input]:
    """Expand arguments in order, without duplicates; `-` takes paths from stdin, one per line."""
    found: list[Input] = []
    seen: set[str] = set()

    def add(item: Input) -> None:
        key = item.s3_uri or str(item.path.resolve() if item.path else item.display)
        if key not in seen:
            seen.add(key)
            found.append(item)

    def add_argument(argument: str) -> None:
        argument = argument.strip()
        if not argument:
            return
        if argument.startswith("s3://"):
            add(Input(argument, s3_uri=argument))
            return
        path = Path(argument).expanduser()
        if path.is_dir():
            files = _walk(path)
            if not files:
                raise UsageError(
                    f"{argument} holds no audio or video files",
                    f"extensions: {' '.join(sorted(AUDIO_EXTENSIONS))}",
                )
            for file in files:
                add(Input(str(file), path=file))
        elif path.is_file():
            add(Input(argument, path=path))
        elif glob.has_magic(argument):
            matches = sorted(
                Path(m) for m in glob.glob(str(path), recursive=True) if Path(m).is_file()
            )
            if not matches:
                raise UsageError(f"{argument} matches no files")
            for match in matches:
                add(Input(str(match), path=match))
        else:
            raise UsageError(
                f"{argument} does not exist",
                "pass audio files, folders, globs, s3:// URIs or - for stdin",
            )

    for argument in arguments:
        if argument == "-":
            for line in stdin_lines:
                add_argument(line)
        else:
            add_argument(argument)
    if not found:
        raise UsageError(
            "No inputs to transcribe.",
            "pass audio files, folders, globs, s3:// URIs or - for stdin",
        )
    return found
