"""What a CTranslate2 Whisper model folder holds, and a check that its model.bin is whole.

push-model packages only the files faster-whisper reads (a folder may hold anything beside
them: notes, a .env, links to elsewhere), and walks model.bin's variable headers, seeking past
their data, so a file cut short or not a model at all is refused before it is uploaded
(otherwise it fails only at the endpoint's model load, minutes into a deploy). Stdlib only:
the base CLI reads it.
"""

from __future__ import annotations

import json
import math
import os
import struct
from pathlib import Path
from typing import BinaryIO

from .manifest import MANIFEST_NAME, ModelLayoutError, not_a_regular_file

# CTranslate2's model files and the ones faster-whisper reads beside them
MODEL_FILES = frozenset(
    {
        "model.bin",
        "config.json",
        "vocabulary.json",
        "vocabulary.txt",
        "tokenizer.json",
        "preprocessor_config.json",
    }
)
# bytes per item of each CTranslate2 dtype id: float32, int8, int16, int32, float16, bfloat16
ITEM_BYTES = {0: 4, 1: 1, 2: 2, 3: 4, 4: 2, 5: 2}
BINARY_VERSIONS = range(1, 100)  # CTranslate2 4.x writes 6


def read_u(handle: BinaryIO, fmt: str) -> int:
    size = struct.calcsize(fmt)
    data = handle.read(size)
    if len(data) < size:
        raise EOFError
    return int(struct.unpack("<" + fmt, data)[0])


def read_string(handle: BinaryIO) -> str:
    length = read_u(handle, "H")
    data = handle.read(length)
    if len(data) < length:
        raise EOFError
    return data[:-1].decode("utf-8", errors="replace")


def model_files(directory: Path) -> tuple[list[Path], list[str]]:
    """(the model's files, the names of the other entries left out but folders), both
    sorted. A model file that is no regular file (a pipe, a link to nothing) is refused: left
    out, the model would be uploaded without it."""
    kept, left_out = [], []
    for child in sorted(directory.iterdir()):
        if child.name in MODEL_FILES:
            if not child.is_file():
                raise not_a_regular_file(child)
            kept.append(child)
        elif not child.is_dir() and child.name != MANIFEST_NAME:  # wasync writes its own
            left_out.append(child.name)
    return kept, left_out


def check_model_files(directory: Path, files: list[Path]) -> None:
    """ModelLayoutError for a model file that is a link out of the folder (a cloned repo's
    `preprocessor_config.json -> ~/.aws/credentials` was packaged and uploaded), or a JSON
    file faster-whisper could not read (it failed only at the endpoint's model load)."""
    folder = os.path.realpath(directory)
    parent = Path(os.path.abspath(directory)).parent
    # A Hugging Face cache snapshot is links to the repo's blobs: snapshots/REV/x -> ../../blobs/H
    blobs = os.path.realpath(parent.parent / "blobs") if parent.name == "snapshots" else None
    for path in files:
        target = os.path.realpath(path)
        inside = os.path.commonpath([folder, target]) == folder
        if not inside and os.path.dirname(target) != blobs:
            raise ModelLayoutError(
                f"{path} is a link to {target}, outside the model folder; a model's files are "
                "packaged and uploaded, so copy the file into the folder if it belongs there"
            )
        if path.suffix == ".json":
            try:  # strictly: CTranslate2's parser refuses NaN and Infinity, Python's reads them
                json.loads(path.read_text(encoding="utf-8"), parse_constant=_not_json)
            except (UnicodeDecodeError, ValueError) as exc:
                raise ModelLayoutError(f"{path} is not JSON ({exc})") from None


def _not_json(constant: str) -> None:
    raise ValueError(f"{constant} is not a JSON value")


def check_model_bin(path: Path) -> None:
    """ModelLayoutError unless `path` is a whole CTranslate2 Whisper model.bin."""
    size = path.stat().st_size
    try:
        with path.open("rb") as handle:
            version = read_u(handle, "I")
            if version not in BINARY_VERSIONS:
                raise ModelLayoutError(
                    f"{path} is not a CTranslate2 model.bin (its first bytes are no model header)"
                )
            spec = read_string(handle)
            if "Whisper" not in spec:
                raise ModelLayoutError(f"{path} holds a {spec or 'unnamed'} model, not Whisper")
            read_u(handle, "I")  # spec revision
            for _ in range(read_u(handle, "I")):
                name = read_string(handle)
                shape = [read_u(handle, "I") for _ in range(read_u(handle, "B"))]
                item = ITEM_BYTES.get(read_u(handle, "B"))
                nbytes = read_u(handle, "I")
                if item is None or nbytes != math.prod(shape) * item:
                    raise ModelLayoutError(f"{path} is damaged: variable {name!r} is malformed")
                if handle.seek(nbytes, 1) > size:
                    raise EOFError
            for _ in range(read_u(handle, "I")):  # aliases
                read_string(handle)
                read_string(handle)
            if handle.tell() != size:
                raise ModelLayoutError(
                    f"{path} has {size - handle.tell()} bytes after its last variable"
                )
    except EOFError:
        raise ModelLayoutError(
            f"{path} is cut short ({size} bytes): a copy or download did not finish"
        ) from None
