"""What a CTranslate2 Whisper model folder holds, and a check that its model.bin is whole.

push-model packages only the files faster-whisper reads (a folder may hold anything beside
them: notes, a .env, links to elsewhere), and walks model.bin's variable headers, seeking past
their data, so a file cut short or not a model at all is refused before it is uploaded
(otherwise it fails only at the endpoint's model load, minutes into a deploy). Stdlib only:
the base CLI reads it.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path
from typing import BinaryIO

from .manifest import MANIFEST_NAME, ModelLayoutError

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
    """(the model's files, the names of the other files left out), both sorted."""
    kept, left_out = [], []
    for child in sorted(directory.iterdir()):
        if child.name in MODEL_FILES and child.is_file():
            kept.append(child)
        elif child.is_file() and child.name != MANIFEST_NAME:  # wasync writes its own
            left_out.append(child.name)
    return kept, left_out


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
