"""Recognise an openai-whisper checkpoint without torch: the CLI does not install it.

A `.pt` that `whisper.load_model` reads is a PyTorch file holding a dict with "dims" and
"model_state_dict". PyTorch 1.6 and later save it as a zip whose `*/data.pkl` names those keys;
older ones as a bare pickle stream that opens with PyTorch's magic number. The pickle is read
with `pickletools`, which parses opcodes and runs nothing.
"""

from __future__ import annotations

import io
import pickletools
import zipfile
from pathlib import Path

from .manifest import ModelLayoutError

REQUIRED_KEYS = ("dims", "model_state_dict")
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
            return  # the old format: its keys sit behind three more pickles; torch reads it
        if not zipfile.is_zipfile(path):
            raise _not_a_checkpoint(path, "it is not a PyTorch file")
        with zipfile.ZipFile(path) as archive:
            names = _pickled_names(path, archive)
    except OSError as exc:
        raise ModelLayoutError(f"cannot read {path}: {exc.strerror or exc}") from exc
    missing = [key for key in REQUIRED_KEYS if key not in names]
    if missing:
        raise _not_a_checkpoint(path, f"it holds no {' or '.join(map(repr, missing))}")


def _pickled_names(path: Path, archive: zipfile.ZipFile) -> set[str]:
    pickles = [i for i in archive.infolist() if i.filename.rsplit("/", 1)[-1] == "data.pkl"]
    if len(pickles) != 1 or pickles[0].file_size > MAX_PICKLE_BYTES:
        raise _not_a_checkpoint(path, "it is a zip, but not one torch.save wrote")
    try:
        data = archive.read(pickles[0])
        return {arg for _, arg, _ in pickletools.genops(io.BytesIO(data)) if isinstance(arg, str)}
    except (ValueError, zipfile.BadZipFile, EOFError, NotImplementedError) as exc:
        raise _not_a_checkpoint(path, f"its pickle does not parse ({exc})") from exc


def _not_a_checkpoint(path: Path, why: str) -> ModelLayoutError:
    return ModelLayoutError(
        f"{path} is not an openai-whisper checkpoint: {why}. A .pt that whisper.load_model "
        "reads is a dict with 'dims' and 'model_state_dict' (as openai-whisper's downloads "
        "are); pass one, a model name, or a CTranslate2 folder (model.bin and config.json)"
    )
