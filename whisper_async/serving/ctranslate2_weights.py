"""Read a CTranslate2 Whisper model.bin as openai-whisper's state dict.

The faster engine's bfloat16 encoder on CPU (serving/bfloat16_encoder.py) runs its model's own
encoder weights in torch; tests and benchmarks convert whole models, which gives both engines
identical weights, so their transcripts can be compared.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from ..ctranslate2_files import read_string, read_u

DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


def read_ctranslate2(path: Path, prefix: str = "") -> dict[str, np.ndarray]:
    """model.bin's variables (those whose names start with `prefix`), widened to NumPy. An
    int8-quantised file keeps its int8 weights: `is_quantised` tells."""
    variables: dict[str, np.ndarray] = {}
    with path.open("rb") as handle:
        read_u(handle, "I")  # binary version
        read_string(handle)  # spec name
        read_u(handle, "I")  # spec revision
        for _ in range(read_u(handle, "I")):
            name = read_string(handle)
            rank = read_u(handle, "B")
            shape = [read_u(handle, "I") for _ in range(rank)]
            dtype_id = read_u(handle, "B")
            nbytes = read_u(handle, "I")
            if not name.startswith(prefix):
                handle.seek(nbytes, 1)
                continue
            data = handle.read(nbytes)
            if dtype_id == 5:  # bfloat16: widen to float32
                raw = np.frombuffer(data, dtype=np.uint16).astype(np.uint32) << 16
                array = raw.view(np.float32)
            else:
                array = np.frombuffer(data, dtype=DTYPES[dtype_id]).copy()
            variables[name] = array.reshape(shape)
        for _ in range(read_u(handle, "I")):
            alias, target = read_string(handle), read_string(handle)
            if target in variables:
                variables[alias] = variables[target]
    return variables


def is_quantised(variables: dict[str, np.ndarray]) -> bool:
    """Weights stored in int8 (with their scales): not readable as float weights here."""
    return any(name.endswith("weight_scale") for name in variables)


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


def encoder_state(variables: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The encoder's weights under openai-whisper's names (without the "encoder." prefix)."""
    v = variables
    state: dict[str, np.ndarray] = {}
    state.update(_linear(v, "encoder/conv1", "conv1"))
    state.update(_linear(v, "encoder/conv2", "conv2"))
    state["positional_embedding"] = v["encoder/position_encodings/encodings"]
    state.update(_norm(v, "encoder/layer_norm", "ln_post"))
    for n in _layers(v, "encoder"):
        state.update(_block(v, f"encoder/layer_{n}", f"blocks.{n}"))
    return state


def encoder_dims(variables: dict[str, np.ndarray]) -> dict[str, int]:
    v = variables
    return {
        "n_mels": int(v["encoder/conv1/weight"].shape[1]),
        "n_audio_ctx": int(v["encoder/position_encodings/encodings"].shape[0]),
        "n_audio_state": int(v["encoder/conv1/weight"].shape[0]),
        "n_audio_head": int(np.asarray(v["encoder/num_heads"]).reshape(-1)[0]),
        "n_audio_layer": len(_layers(v, "encoder")),
    }


def _layers(v: dict[str, np.ndarray], side: str) -> list[int]:
    return sorted({int(n) for key in v for n in re.findall(rf"^{side}/layer_(\d+)/", key)})


def _block(v: dict[str, np.ndarray], src: str, dst: str) -> dict[str, np.ndarray]:
    """A residual attention block's self-attention and MLP (both sides have them)."""
    state = _norm(v, f"{src}/self_attention/layer_norm", f"{dst}.attn_ln")
    state.update(
        _split_attention(
            f"{dst}.attn", v, f"{src}/self_attention/linear_0", ["query", "key", "value"]
        )
    )
    state.update(_linear(v, f"{src}/self_attention/linear_1", f"{dst}.attn.out"))
    state.update(_norm(v, f"{src}/ffn/layer_norm", f"{dst}.mlp_ln"))
    state.update(_linear(v, f"{src}/ffn/linear_0", f"{dst}.mlp.0"))
    state.update(_linear(v, f"{src}/ffn/linear_1", f"{dst}.mlp.2"))
    return state


def convert(variables: dict[str, np.ndarray]) -> dict[str, Any]:
    """A whole openai-whisper checkpoint: {"dims": ..., "model_state_dict": ...}."""
    import torch

    v = variables
    state = {f"encoder.{name}": array for name, array in encoder_state(v).items()}
    state["decoder.token_embedding.weight"] = v["decoder/embeddings/weight"]
    state["decoder.positional_embedding"] = v["decoder/position_encodings/encodings"]
    state.update(_norm(v, "decoder/layer_norm", "decoder.ln"))
    for n in _layers(v, "decoder"):
        src, dst = f"decoder/layer_{n}", f"decoder.blocks.{n}"
        state.update(_block(v, src, dst))
        state.update(_norm(v, f"{src}/attention/layer_norm", f"{dst}.cross_attn_ln"))
        state.update(_linear(v, f"{src}/attention/linear_0", f"{dst}.cross_attn.query"))
        state.update(
            _split_attention(f"{dst}.cross_attn", v, f"{src}/attention/linear_1", ["key", "value"])
        )
        state.update(_linear(v, f"{src}/attention/linear_2", f"{dst}.cross_attn.out"))
    dims = {
        **encoder_dims(v),
        "n_vocab": int(v["decoder/embeddings/weight"].shape[0]),
        "n_text_ctx": int(v["decoder/position_encodings/encodings"].shape[0]),
        "n_text_state": int(v["decoder/embeddings/weight"].shape[1]),
        "n_text_head": int(np.asarray(v["decoder/num_heads"]).reshape(-1)[0]),
        "n_text_layer": len(_layers(v, "decoder")),
    }
    tensors = {
        k: torch.from_numpy(np.ascontiguousarray(a).astype(np.float32)) for k, a in state.items()
    }
    return {"dims": dims, "model_state_dict": tensors}


def convert_file(model_bin: Path, output: Path) -> Path:
    import torch

    torch.save(convert(read_ctranslate2(model_bin)), output)
    return output
