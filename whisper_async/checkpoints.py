"""Recognise an openai-whisper checkpoint without torch: the CLI does not install it.

A `.pt` that `whisper.load_model` reads is a PyTorch file holding a dict with "dims" (the
model's dimensions, integers) and "model_state_dict" (tensors named encoder.* and decoder.*).
PyTorch 1.6 and later save it as a zip: the object's pickle in `*/data.pkl`, each tensor's
bytes in `*/data/KEY`. Older ones write one stream of pickles that opens with PyTorch's magic
number, the tensors' bytes after them.

The pickle is read by an unpickler that knows only the few names torch.save writes (tensor
rebuilders, storage types, OrderedDict, bytes' encoding): a tensor becomes a marker, nothing is imported or called,
and any other name (`os.system`) refuses the file, as load_model's weights_only loading would.
Dicts may be keyed only by strings, integers and bytes, checked before they are hashed, and a
tensor's key must be a short string: a few hundred crafted bytes otherwise hashed or printed
a structure of 2**100 shared parts, for ever.
The tensors' bytes are checked to be all there, so a cut download is refused too.
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

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
# Far above any Whisper model's dimension (n_vocab 51866, n_audio_ctx 1500, n_mels 128)
MOST_DIMENSION = 1 << 20
# Weights every Whisper model has, whatever its size
REQUIRED_WEIGHTS = ("encoder.conv1.weight", "decoder.token_embedding.weight")
# A whisper checkpoint's object pickle is tens of KB (the tensors are stored beside it)
MAX_PICKLE_BYTES = 64 * 1024 * 1024
# torch.save's legacy format opens with pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)
LEGACY_MAGIC = bytes.fromhex("80028a0a6cfc9c46f9206aa850192e")
# Bytes per element of the storage types torch.save names (torch.<Type>Storage)
ELEMENT_BYTES = {
    "Double": 8,
    "Float": 4,
    "Half": 2,
    "BFloat16": 2,
    "Long": 8,
    "Int": 4,
    "Short": 2,
    "Char": 1,
    "Byte": 1,
    "Bool": 1,
}
TENSOR_REBUILDERS = {
    "_rebuild_tensor",
    "_rebuild_tensor_v2",
    "_rebuild_parameter",
    "_rebuild_parameter_with_state",
}


@dataclass(frozen=True)
class Storage:
    key: str
    element_bytes: int
    elements: int


@dataclass(frozen=True)
class Tensor:
    """What a tensor rebuilder would have made: the marker stands in for it."""


@dataclass(frozen=True)
class StorageType:
    element_bytes: int


def _tensor(*_: Any) -> Tensor:
    return Tensor()


# What torch.save's dicts are keyed by. Anything else is refused before it is hashed: a
# 446-byte pickle keyed a dict by a tuple of 2**100 shared leaves, and hashing it never ended.
PLAIN_KEYS = (str, int, bytes)
MOST_KEY_CHARACTERS = 4096


class _Reader(pickle._Unpickler):
    """Python's own unpickler (the C one offers no hook before a key is hashed), knowing only
    the names torch.save writes, with dicts keyed only by plain values."""

    # The pure-Python unpickler's table of opcodes; `dispatch` is ours, with the checks in it
    base: ClassVar[dict[int, Callable[..., Any]]] = pickle._Unpickler.dispatch
    dispatch: ClassVar[dict[int, Callable[..., Any]]] = dict(base)
    stack: list[Any]  # the pure-Python unpickler's: the objects since the last mark

    def __init__(self, stream: BinaryIO | _Bounded, path: Path) -> None:
        super().__init__(stream)
        self.path = path
        self.storages: dict[str, Storage] = {}

    def _plain_keys(self, keys: list[Any]) -> None:
        for key in keys:
            if type(key) not in PLAIN_KEYS or (
                isinstance(key, str | bytes) and len(key) > MOST_KEY_CHARACTERS
            ):
                raise _not_a_checkpoint(
                    self.path, "its pickle keys a dict by what torch.save never does"
                )

    def load_setitem(self) -> None:
        self._plain_keys([self.stack[-2]])
        self.base[pickle.SETITEM[0]](self)

    def load_setitems(self) -> None:
        self._plain_keys(self.stack[0::2])  # the items since the mark: key, value, ...
        self.base[pickle.SETITEMS[0]](self)

    def load_dict(self) -> None:
        self._plain_keys(self.stack[0::2])
        self.base[pickle.DICT[0]](self)

    def load_sets(self) -> None:  # ADDITEMS and FROZENSET, which hash every item
        raise _not_a_checkpoint(self.path, "its pickle holds a set, which torch.save never writes")

    dispatch[pickle.SETITEM[0]] = load_setitem
    dispatch[pickle.SETITEMS[0]] = load_setitems
    dispatch[pickle.DICT[0]] = load_dict
    dispatch[pickle.ADDITEMS[0]] = load_sets
    dispatch[pickle.FROZENSET[0]] = load_sets

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch._utils" and name in TENSOR_REBUILDERS:
            return _tensor
        if module == "collections" and name == "OrderedDict":
            return self._empty_ordered_dict
        if module == "_codecs" and name == "encode":  # bytes in a protocol 2 pickle
            return self._latin1_bytes
        if module == "torch" and name.removesuffix("Storage") in ELEMENT_BYTES:
            return StorageType(ELEMENT_BYTES[name.removesuffix("Storage")])
        raise _not_a_checkpoint(
            self.path, f"its pickle names {module}.{name}, which torch.save never writes"
        )

    def _empty_ordered_dict(self, *args: Any) -> collections.OrderedDict[Any, Any]:
        """OrderedDict as torch.save pickles it: made empty, its items set one by one (checked
        above); made from pairs, it would hash keys no check has seen."""
        if args:
            raise _not_a_checkpoint(self.path, "its pickle builds a dict as torch.save never does")
        return collections.OrderedDict()

    def _latin1_bytes(self, *args: Any) -> bytes:
        """_codecs.encode as protocol 2 pickles bytes, and only so: with another codec a
        few hundred bytes nested ('hex' in 'hex'...) asked for gigabytes."""
        if len(args) != 2 or not isinstance(args[0], str) or args[1] != "latin1":
            raise _not_a_checkpoint(self.path, "its pickle encodes data as torch.save never does")
        return str(args[0]).encode("latin-1")

    def persistent_load(self, pid: Any) -> Any:
        # ("storage", type, key, location, elements), and in the legacy format a view's facts
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise _not_a_checkpoint(self.path, "its pickle refers to data torch.save never writes")
        kind, key, elements = pid[1], pid[2], pid[4]
        if (
            not isinstance(kind, StorageType)
            or not isinstance(key, str)  # str() of a crafted one took gigabytes
            or len(key) > MOST_KEY_CHARACTERS
            or not isinstance(elements, int)
            or elements < 0
        ):
            raise _not_a_checkpoint(self.path, "its pickle refers to data torch.save never writes")
        storage = Storage(key, kind.element_bytes, elements)
        self.storages[key] = storage
        return storage


def check_checkpoint(path: Path) -> dict[str, int]:
    """The dimensions of the checkpoint at `path`; ModelLayoutError unless openai-whisper can
    load it."""
    try:
        with path.open("rb") as handle:
            head = handle.read(len(LEGACY_MAGIC))
        if head == LEGACY_MAGIC:
            checkpoint = _legacy(path)
        elif zipfile.is_zipfile(path):
            checkpoint = _zipped(path)
        elif head[:2] == b"PK":
            raise _not_a_checkpoint(path, "it is a zip cut short (an unfinished download?)")
        else:
            raise _not_a_checkpoint(path, "it is not a PyTorch file")
    except OSError as exc:
        raise ModelLayoutError(f"cannot read {path}: {exc.strerror or exc}") from exc
    _check_contents(path, checkpoint)
    return dict(checkpoint["dims"])


def _check_contents(path: Path, checkpoint: Any) -> None:
    if not isinstance(checkpoint, dict):
        raise _not_a_checkpoint(path, f"it holds a {type(checkpoint).__name__}, not a dict")
    missing = [key for key in REQUIRED_KEYS if key not in checkpoint]
    if missing:
        raise _not_a_checkpoint(path, f"it holds no {' or '.join(map(repr, missing))}")
    dims, weights = checkpoint["dims"], checkpoint["model_state_dict"]
    if not isinstance(dims, dict):
        raise _not_a_checkpoint(path, "its 'dims' is not a dict")
    lacking = [name for name in DIMENSIONS if not _positive_int(dims.get(name))]
    if lacking:
        raise _not_a_checkpoint(path, f"its 'dims' lacks a positive integer {', '.join(lacking)}")
    unknown = sorted(map(str, dims.keys() - set(DIMENSIONS)))
    if unknown:  # ModelDimensions(**dims) refuses them
        raise _not_a_checkpoint(path, f"its 'dims' holds {', '.join(unknown)}, which Whisper lacks")
    huge = [name for name in DIMENSIONS if dims[name] > MOST_DIMENSION]
    if huge:
        raise _not_a_checkpoint(path, f"its 'dims' {', '.join(huge)} is past any Whisper model's")
    if not isinstance(weights, dict) or not all(isinstance(t, Tensor) for t in weights.values()):
        raise _not_a_checkpoint(path, "its 'model_state_dict' is not a dict of tensors")
    absent = [name for name in REQUIRED_WEIGHTS if name not in weights]
    if absent:
        raise _not_a_checkpoint(path, f"its 'model_state_dict' holds no {', '.join(absent)}")


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


# What a damaged or unusual zip raises (a bad directory, a compression method or encryption
# zipfile lacks, corrupt deflate data); torch.save writes none of them
ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError, EOFError)


def _zipped(path: Path) -> Any:
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            pickles = [i for i in infos if i.filename.rsplit("/", 1)[-1] == "data.pkl"]
            if len(pickles) != 1 or pickles[0].file_size > MAX_PICKLE_BYTES:
                raise _not_a_checkpoint(path, "it is a zip, but not one torch.save wrote")
            data = archive.read(pickles[0])
    except ZIP_ERRORS as exc:
        raise _not_a_checkpoint(path, f"its zip does not read ({exc})") from exc
    folder = pickles[0].filename[: -len("data.pkl")]
    reader = _Reader(io.BytesIO(data), path)
    checkpoint = _load(reader)
    sizes = {info.filename: info.file_size for info in infos}
    for storage in reader.storages.values():
        stored = sizes.get(f"{folder}data/{storage.key}")
        if stored is None or stored < storage.elements * storage.element_bytes:
            raise _not_a_checkpoint(path, f"the bytes of its tensor {storage.key} are missing")
    return checkpoint


def _legacy(path: Path) -> Any:
    """Pickles one after another: the magic number, the protocol version, the system's facts,
    the object, the storages' keys; then each storage as its element count and its bytes."""
    with path.open("rb") as handle:
        bounded = _Bounded(handle, MAX_PICKLE_BYTES)
        for _ in range(3):
            _load(_Reader(bounded, path))
        reader = _Reader(bounded, path)
        checkpoint = _load(reader)
        keys = _load(_Reader(bounded, path))
        if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
            raise _not_a_checkpoint(path, "its list of tensors is not what torch.save writes")
        if set(keys) != set(reader.storages):
            raise _not_a_checkpoint(path, "its list of tensors does not match its pickle")
        for key in keys:
            storage = reader.storages[key]
            count = handle.read(8)
            if len(count) < 8 or struct.unpack("<q", count)[0] != storage.elements:
                raise _not_a_checkpoint(path, f"the bytes of its tensor {key} are missing")
            size = storage.elements * storage.element_bytes
            if handle.seek(size, io.SEEK_CUR) > path.stat().st_size:
                raise _not_a_checkpoint(path, f"the bytes of its tensor {key} are missing")
    return checkpoint


class _Bounded:
    """The file, as far as the pickles may reach: a crafted pickle cannot make us read all of
    a file of gigabytes."""

    def __init__(self, handle: BinaryIO, limit: int) -> None:
        self._handle = handle
        self._left = limit

    def read(self, size: int = -1, /) -> bytes:
        data = self._handle.read(self._left if size < 0 else min(size, self._left))
        self._left -= len(data)
        return data

    def readline(self, size: int = -1, /) -> bytes:
        line = self._handle.readline(self._left if size < 0 else min(size, self._left))
        self._left -= len(line)
        return line


def _load(reader: _Reader) -> Any:
    try:
        return reader.load()
    except ModelLayoutError:
        raise
    except (pickle.UnpicklingError, ValueError, EOFError, TypeError, LookupError) as exc:
        raise _not_a_checkpoint(reader.path, f"its pickle does not read ({exc})") from exc
    except (AttributeError, RecursionError, MemoryError) as exc:
        raise _not_a_checkpoint(reader.path, f"its pickle does not read ({exc!r})") from exc


def _not_a_checkpoint(path: Path, why: str) -> ModelLayoutError:
    return ModelLayoutError(
        f"{path} is not an openai-whisper checkpoint: {why}. A .pt that whisper.load_model "
        "reads is a dict with 'dims' and 'model_state_dict' (as openai-whisper's downloads "
        "are); pass one, a model name, or a CTranslate2 folder (model.bin and config.json)"
    )
