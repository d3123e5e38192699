"""The stand-in engine's model and clips, for client-scale tests and the client benchmark.

A stand-in "model" is a model.tar.gz holding only a manifest that names the stand-in engine
(whisper_async/serving/standin.py). Clip N is 0.1 s of 16 kHz audio whose samples swing
about N (N + 1000, N - 1000, ...: the server gives no engine a window of digital silence, and
a clip of N alone is that for small N), so its mean is N, its transcript ends in `level N`,
and a test can check that each result is its own.
"""

from __future__ import annotations

import collections
import json
import re
import struct
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.helpers.archives import gzip_tar

CLIP_SAMPLES = 1600
SWING = 1000  # louder than digital silence (-72 dBFS) at every level


def model_archive(seconds: float = 0.0) -> bytes:
    """model.tar.gz for the stand-in engine; `seconds` of work per request."""
    members = {
        "wasync-model.json": json.dumps(
            {"engine": "standin", "name": "standin", "sha256": "0" * 64, "format_version": 1}
        ).encode(),
        "standin.json": json.dumps({"seconds": seconds}).encode(),
    }
    return gzip_tar(members)


def upload_model(s3: Any, bucket: str, seconds: float = 0.0) -> str:
    """Put the stand-in model in S3; returns its URI for `wasync deploy --model`."""
    key = f"wasync/models/standin-{str(seconds).replace('.', '_')}/model.tar.gz"
    s3.put_object(Bucket=bucket, Key=key, Body=model_archive(seconds))
    return f"s3://{bucket}/{key}"


def write_clip(path: Path, level: int) -> Path:
    swing = min(SWING, 32767 - level)
    pair = struct.pack("<hh", level + swing, level - swing)
    with wave.open(str(path), "wb") as clip:
        clip.setnchannels(1)
        clip.setsampwidth(2)
        clip.setframerate(16_000)
        clip.writeframes(pair * (CLIP_SAMPLES // 2))
    return path


def write_clips(folder: Path, count: int, first: int = 1) -> list[Path]:
    """Clips `clip{N:05d}.wav` with levels first .. first + count - 1 (at most 32767)."""
    folder.mkdir(parents=True, exist_ok=True)
    return [write_clip(folder / f"clip{n:05d}.wav", n) for n in range(first, first + count)]


def expected_text(level: int) -> str:
    return f"stand-in transcript: {CLIP_SAMPLES} samples, level {level}"


def level_of(path: Path) -> int:
    """The level a clip or its transcript is named for: clip00042.txt -> 42."""
    return int(path.stem.removeprefix("clip"))


def missing_or_wrong(out: Path, levels: range, fmt: str = "txt") -> Iterator[str]:
    """Every transcript that is absent or not its own clip's."""
    for level in levels:
        path = out / f"clip{level:05d}.{fmt}"
        if not path.is_file():
            yield f"{path.name}: missing"
        elif expected_text(level) not in path.read_text():
            yield f"{path.name}: {path.read_text().strip()!r}"


_LOGGED = re.compile(r"stand-in transcribed level (\d+)")


def logged_levels(state_dir: Path, endpoint: str) -> list[int]:
    """The levels an endpoint's containers transcribed, in the order each took them: the
    stand-in logs a line per request, and each instance's log (`logs/<instance>.log`) opens
    with its endpoint's name."""
    levels: list[int] = []
    for log in sorted((state_dir / "logs").glob("*.log")):
        text = log.read_text(errors="replace")
        if text.startswith(f"wasync local: endpoint {endpoint!r},"):
            levels += [int(n) for n in _LOGGED.findall(text)]
    return levels


def invocations(state_dir: Path, endpoint: str) -> collections.Counter[int]:
    """How often each level reached an endpoint's containers."""
    return collections.Counter(logged_levels(state_dir, endpoint))
