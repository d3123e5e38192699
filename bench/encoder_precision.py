"""The encoder at another precision than the decoder (the decoder stays CTranslate2 int8 on
CPU): a refused experiment kept so its figures can be reproduced, and the timings of
bench/encoder_speed.py (torch bfloat16 is the faster engine's opt-in encoder on CPU).

`precision` is a CTranslate2 compute type (`float32`, `int16`, ...), or `torch-float32` /
`torch-bfloat16`: openai-whisper's encoder on the same weights, converted from model.bin.
docs/serving.md ("Encoder precision on CPU") gives the figures and why it was refused.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any


def encode_at(engine: Any, model_dir: Path, precision: str, cpu_threads: int) -> None:
    """Make `engine` (a FasterWhisperEngine) encode at `precision`. faster-whisper encodes only
    through `WhisperModel.encode`, in both of its pipelines and in language detection, so this
    moves every encoder pass."""
    import numpy as np

    run = encoder_for(model_dir, engine.device, precision, cpu_threads)

    def encode(features: Any) -> Any:
        if features.ndim == 2:
            features = np.expand_dims(features, 0)
        return run(np.ascontiguousarray(features, dtype=np.float32))

    engine.model.encode = encode


def encoder_for(
    model_dir: Path, device: str, precision: str, cpu_threads: int
) -> Callable[[Any], Any]:
    """features (1, 80, 3000) float32 -> encoder output, at `precision` (see the module)."""
    if precision.startswith("torch-"):
        return _torch_encoder(model_dir, precision.removeprefix("torch-"), cpu_threads)
    return _ctranslate2_encoder(model_dir, device, precision, cpu_threads)


def _ctranslate2_encoder(
    model_dir: Path, device: str, compute_type: str, cpu_threads: int
) -> Callable[[Any], Any]:
    import ctranslate2

    model = ctranslate2.models.Whisper(
        str(model_dir), device=device, compute_type=compute_type, intra_threads=cpu_threads
    )
    return lambda features: model.encode(ctranslate2.StorageView.from_array(features))


def _torch_encoder(model_dir: Path, dtype: str, cpu_threads: int) -> Callable[[Any], Any]:
    from whisper_async.serving.bfloat16_encoder import load_encoder

    encoder = load_encoder(model_dir / "model.bin", cpu_threads, bfloat16=dtype == "bfloat16")
    if encoder is None:
        raise SystemExit(f"{model_dir}: its weights are stored in int8; torch cannot read them")
    return encoder
