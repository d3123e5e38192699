"""Convert a CTranslate2 Whisper model.bin into an openai-whisper checkpoint.

This gives both engines identical weights, so their transcripts can be compared.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


def _u(handle: BinaryIO, fmt: str) -> int:
    size = struct.calcsize(fmt)
    return int(struct.unpack("<" + fmt, handle.read(size))[0])


def _string(handle: BinaryIO) -> str:
    length = _u(handle, "H")
    return handle.read(length)[:-1].decode("utf-8")


def read_ctranslate2(path: Path) -> dict[str, np.ndarray]:
    variables: dict[str, np.ndarray] = {}
    with path.open("rb") as handle:
        _u(handle, "I")  # binary version
        _string(handle)  # spec name
        _u(handle, "I")  # spec revision
        for _ in range(_u(handle, "I")):
            name = _string(handle)
            rank = _u(handle, "B")
            shape = [_u(handle, "I") for _ in range(rank)]
            dtype_id = _u(handle, "B")
            nbytes = _u(handle, "I")
            data = handle.read(nbytes)
            if dtype_id == 5:  # bfloat16: widen to float32
                raw = np.frombuffer(data, dtype=np.uint16).astype(np.uint32) << 16
                array = raw.view(np.float32)
            else:
                array = np.frombuffer(data, dtype=DTYPES[dtype_id]).copy()
            variables[name] = array.reshape(shape)
        for _ in range(_u(handle, "I")):
            alias, target = _string(handle), _string(handle)
            variables[alias] = variables[target]
    return variables


def _split_attention(
    prefix: str, v: dict[str, np.ndarray], fused: str, names: list[str]
) -> dict[str, np.ndarray]:
    weight = np.split(v[f"{fused}/weight"], len(names))
    bias = np.split(v[f"{fused}/bias"], len(names))
    out = {}
    for name, w, b in zip(names, weight, bias, strict=True):
        out[f"{prefix}.{name}.weight"] = w
        if name != "key":  # whisper's key projection has no bias
            out[f"{prefix}.{name}.bias"] = b
    return out


def _linear(v: dict[str, np.ndarray], source: str, target: str) -> dict[str, np.ndarray]:
    return {f"{target}.weight": v[f"{source}/weight"], f"{target}.bias": v[f"{source}/bias"]}


def _norm(v: dict[str, np.ndarray], source: str, target: str) -> dict[str, np.ndarray]:
    return {f"{target}.weight": v[f"{source}/gamma"], f"{target}.bias": v[f"{source}/beta"]}


def convert(variables: dict[str, np.ndarray]) -> dict[str, Any]:
    import torch

    v = variables
    state: dict[str, np.ndarray] = {}
    state.update(_linear(v, "encoder/conv1", "encoder.conv1"))
    state.update(_linear(v, "encoder/conv2", "encoder.conv2"))
    state["encoder.positional_embedding"] = v["encoder/position_encodings/encodings"]
    state.update(_norm(v, "encoder/layer_norm", "encoder.ln_post"))
    state["decoder.token_embedding.weight"] = v["decoder/embeddings/weight"]
    state["decoder.positional_embedding"] = v["decoder/position_encodings/encodings"]
    state.update(_norm(v, "decoder/layer_norm", "decoder.ln"))
    layer_ids = {
        (side, int(n))
        for key in v
        for side, n in re.findall(r"^(encoder|decoder)/layer_(\d+)/", key)
    }
    for side, n in sorted(layer_ids):
        src, dst = f"{side}/layer_{n}", f"{side}.blocks.{n}"
        state.update(_norm(v, f"{src}/self_attention/layer_norm", f"{dst}.attn_ln"))
        state.update(
            _split_attention(
                f"{dst}.attn", v, f"{src}/self_attention/linear_0", ["query", "key", "value"]
            )
        )
        state.update(_linear(v, f"{src}/self_attention/linear_1", f"{dst}.attn.out"))
        state.update(_norm(v, f"{src}/ffn/layer_norm", f"{dst}.mlp_ln"))
        state.update(_linear(v, f"{src}/ffn/linear_0", f"{dst}.mlp.0"))
        state.update(_linear(v, f"{src}/ffn/linear_1", f"{dst}.mlp.2"))
        if side == "decoder":
            state.update(_norm(v, f"{src}/attention/layer_norm", f"{dst}.cross_attn_ln"))
            state.update(_linear(v, f"{src}/attention/linear_0", f"{dst}.cross_attn.query"))
            state.update(
                _split_attention(
                    f"{dst}.cross_attn", v, f"{src}/attention/linear_1", ["key", "value"]
                )
            )
            state.update(_linear(v, f"{src}/attention/linear_2", f"{dst}.cross_attn.out"))
    encoder_layers = len([1 for side, _ in layer_ids if side == "encoder"])
    decoder_layers = len([1 for side, _ in layer_ids if side == "decoder"])
    dims = {
        "n_mels": int(v["encoder/conv1/weight"].shape[1]),
        "n_audio_ctx": int(v["encoder/position_encodings/encodings"].shape[0]),
        "n_audio_state": int(v["encoder/conv1/weight"].shape[0]),
        "n_audio_head": int(np.asarray(v["encoder/num_heads"]).reshape(-1)[0]),
        "n_audio_layer": encoder_layers,
        "n_vocab": int(v["decoder/embeddings/weight"].shape[0]),
        "n_text_ctx": int(v["decoder/position_encodings/encodings"].shape[0]),
        "n_text_state": int(v["decoder/embeddings/weight"].shape[1]),
        "n_text_head": int(np.asarray(v["decoder/num_heads"]).reshape(-1)[0]),
        "n_text_layer": decoder_layers,
    }
    tensors = {
        k: torch.from_numpy(np.ascontiguousarray(a).astype(np.float32)) for k, a in state.items()
    }
    return {"dims": dims, "model_state_dict": tensors}


def convert_file(model_bin: Path, output: Path) -> Path:
    import torch

    torch.save(convert(read_ctranslate2(model_bin)), output)
    return output
