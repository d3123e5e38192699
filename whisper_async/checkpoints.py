"""Recognise an openai-whisper checkpoint without torch: the CLI does not install it.

A `.pt` that `whisper.load_model` reads is a PyTorch file holding a dict with "dims" and
"model_state_dict". PyTorch 1.6 and later save it as a zip whose `*/data.pkl` names those keys;
older ones as a bare pickle stream that opens with PyTorch's magic number. The pickle is read
with `pickletools`, which parses opcodes and runs nothing; the check is that the names
load_model needs are there (the keys, every dimension, encoder and decoder weights).
"""

from __future__ import annotations

import io
import pickletools
import zipfile
from pathlib import Path
from typing import BinaryIO

from .manifest import ModelLayoutError

REQUIRED_KEYS = ("dims", "model_state_dict")
# whisper.model.ModelDimensions, which load_model builds from "dims"
DIMENSIONS = (
    "n_mels",
    "n_audio_ctx",
    "n_audio_state",
    "n_audio_head",
    "n_audio_layer",
    "n_vocab",
    "n_text_ctx",
    "n_text_state",
    "n_text_head",
    "n_text_layer",
)
WEIGHT_PREFIXES = ("encoder.", "decoder.")  # the state dict's parameter names
# A whisper checkpoint's data.pkl is tens of KB (the tensors are stored beside it)
MAX_PICKLE_BYTES = 64 * 1024 * 1024
# torch.save's legacy format opens with pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)
LEGACY_MAGIC = bytes.fromhex("80028a0a6cfc9c46f9206aa850192e")


def check_checkpoint(path: Path) -> None:
    """ModelLayoutError unless `path` looks like a checkpoint openai-whisper can load."""
    try:
        with path.open("rb") as handle:
            head = handle.read(len(LEGACY_MAGIC))
        if head == LEGACY_MAGIC:
            names = _legacy_names(path)
        elif zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                names = _pickled_names(path, archive)
        else:
            raise _not_a_checkpoint(path, "it is not a PyTorch file")
    except OSError as exc:
        raise ModelLayoutError(f"cannot read {path}: {exc.strerror or exc}") from exc
    missing = [key for key in REQUIRED_KEYS if key not in names]
    if missing:
        raise _not_a_checkpoint(path, f"it holds no {' or '.join(map(repr, missing))}")
    lacking = [name for name in DIMENSIONS if name not in names]
    if lacking:
        raise _not_a_checkpoint(path, f"its 'dims' lacks {', '.join(lacking)}")
    if not all(any(n.startswith(p) for n in names) for p in WEIGHT_PREFIXES):
        raise _not_a_checkpoint(path, "its 'model_state_dict' holds no encoder and decoder")


def _pickled_names(path: Path, archive: zipfile.ZipFile) -> set[str]:
    pickles = [i for i in archive.infolist() if i.filename.rsplit("/", 1)[-1] == "data.pkl"]
    if len(pickles) != 1 or pickles[0].file_size > MAX_PICKLE_BYTES:
        raise _not_a_checkpoint(path, "it is a zip, but not one torch.save wrote")
    try:
        return _names(path, io.BytesIO(archive.read(pickles[0])))
    except zipfile.BadZipFile as exc:
        raise _not_a_checkpoint(path, f"its pickle does not parse ({exc})") from exc


def _legacy_names(path: Path) -> set[str]:
    """The old format is pickles one after another: the magic number, the protocol version,
    the system's facts, then the object; the tensors' bytes follow."""
    with path.open("rb") as handle:
        for _ in range(3):
            _names(path, handle)
        return _names(path, handle)


def _names(path: Path, stream: BinaryIO) -> set[str]:
    """The strings of the one pickle that starts at the stream's position (it ends there)."""
    start = stream.tell()
    names = set()
    try:
        for _, arg, position in pickletools.genops(stream):
            if position is not None and position - start > MAX_PICKLE_BYTES:
                raise _not_a_checkpoint(path, "its pickle is far larger than a checkpoint's")
            if isinstance(arg, str):
                names.add(arg)
    except (ValueError, EOFError, NotImplementedError) as exc:
        raise _not_a_checkpoint(path, f"its pickle does not parse ({exc})") from exc
    return names


def _not_a_checkpoint(path: Path, why: str) -> ModelLayoutError:
    return ModelLayoutError(
        f"{path} is not an openai-whisper checkpoint: {why}. A .pt that whisper.load_model "
        "reads is a dict with 'dims' and 'model_state_dict' (as openai-whisper's downloads "
        "are); pass one, a model name, or a CTranslate2 folder (model.bin and config.json)"
    )
