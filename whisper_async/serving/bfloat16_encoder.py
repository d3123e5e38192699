"""An opt-in encoder for the faster engine on CPU: torch's bfloat16, CTranslate2 decodes.

On a CPU the encoder is most of what a transcription costs, and CTranslate2 has no bfloat16 on
CPU: its int8 encoder took 231 ms a 30 s window of tiny.en on a 2-core Intel Xeon with AMX,
torch's float32 (the article's) 189 ms, and torch's bfloat16 under autocast 69 ms, because AMX
multiplies bfloat16 tiles in hardware. `WASYNC_CPU_ENCODER=torch-bfloat16` runs the model's own
encoder weights so, where torch and openai-whisper are installed (the `openai` extra and image
variant). Not the default: on the held-out split it was 1.5x faster than CTranslate2's encoder
but lost a phrase that the default keeps, and was worse on espeak's voices (docs/serving.md,
"The encoder in bfloat16 on CPUs with AMX: an option, not the default").
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from whisper_async.cpu_encoders import CHOICES, CTRANSLATE2, SETTING, TORCH_BFLOAT16
from whisper_async.serving.ctranslate2_weights import (
    encoder_dims,
    encoder_state,
    is_quantised,
    read_ctranslate2,
)

log = logging.getLogger("wasync.serve")


Encoder = Callable[[np.ndarray], Any]  # features (batch, mels, frames) -> a StorageView


def cpu_has_amx_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return False
    return any(
        line.startswith("flags") and "amx_bf16" in line.split() for line in text.splitlines()
    )


def torch_installed() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("torch", "whisper"))


def setting_value(environ: Mapping[str, str]) -> str:
    """`WASYNC_CPU_ENCODER`, in any case; CTRANSLATE2 when unset or empty."""
    given = environ.get(SETTING) or ""
    setting = given.strip().lower() or CTRANSLATE2
    if setting not in CHOICES:
        raise ValueError(f"{SETTING}={given!r} is not one of {', '.join(CHOICES)}")
    return setting


def chosen_backend(environ: Mapping[str, str], device: str) -> str:
    """CTRANSLATE2 (the default) or TORCH_BFLOAT16, from `WASYNC_CPU_ENCODER`; a GPU always
    encodes in CTranslate2."""
    setting = setting_value(environ)
    if device != "cpu" or setting == CTRANSLATE2:
        return CTRANSLATE2
    if not torch_installed():
        raise ValueError(
            f"{SETTING}={TORCH_BFLOAT16} needs torch and openai-whisper: install "
            "wasync[openai], or build the image with --with-openai"
        )
    if not cpu_has_amx_bf16():
        log.warning(
            "%s=%s on a CPU without AMX: bfloat16 is computed without it here, and is likely "
            "slower than CTranslate2's int8 encoder",
            SETTING,
            TORCH_BFLOAT16,
        )
    return TORCH_BFLOAT16


def load_encoder(model_bin: Path, threads: int, bfloat16: bool = True) -> Encoder | None:
    """The model's encoder in torch, bfloat16 under autocast (float32 for bench/ to compare);
    None for weights stored in int8 (CTranslate2 keeps encoding those)."""
    import torch
    from whisper.model import AudioEncoder

    variables = read_ctranslate2(model_bin, prefix="encoder/")
    if is_quantised(variables):
        log.info("%s: its weights are stored in int8; CTranslate2 encodes", model_bin)
        return None
    dims = encoder_dims(variables)
    encoder = AudioEncoder(
        dims["n_mels"],
        dims["n_audio_ctx"],
        dims["n_audio_state"],
        dims["n_audio_head"],
        dims["n_audio_layer"],
    )
    encoder.load_state_dict(
        {
            name: torch.from_numpy(np.ascontiguousarray(array).astype(np.float32))
            for name, array in encoder_state(variables).items()
        }
    )
    encoder.eval()
    if threads > 0:  # as CTranslate2's intra_threads: 0 leaves the library's default
        torch.set_num_threads(threads)
    return _TorchEncoder(encoder, bfloat16)


class _TorchEncoder:
    """openai-whisper's AudioEncoder.forward, for any even number of frames up to 30 s: the
    language runs encode a stretch with 10 s of padding, not a whole window (engines.py)."""

    def __init__(self, encoder: Any, bfloat16: bool) -> None:
        self.encoder = encoder
        self.bfloat16 = bfloat16

    def __call__(self, features: np.ndarray) -> Any:
        import ctranslate2
        import torch
        import torch.nn.functional as F

        encoder = self.encoder
        with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16, self.bfloat16):
            x = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
            x = F.gelu(encoder.conv1(x))
            x = F.gelu(encoder.conv2(x)).permute(0, 2, 1)
            x = (x + encoder.positional_embedding[: x.shape[1]]).to(x.dtype)
            for block in encoder.blocks:
                x = block(x)
            output = encoder.ln_post(x).float().numpy()
        return ctranslate2.StorageView.from_array(np.ascontiguousarray(output))
