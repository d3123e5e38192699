"""The faster engine's opt-in encoder in torch bfloat16 (serving/bfloat16_encoder.py,
`WASYNC_CPU_ENCODER`): the same model weights, read by CTranslate2's decoder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from whisper_async.attributes import TranscribeOptions
from whisper_async.serving import bfloat16_encoder
from whisper_async.serving.audio import SAMPLE_RATE, decode_audio
from whisper_async.serving.ctranslate2_weights import is_quantised, read_ctranslate2
from whisper_async.serving.engines import FasterWhisperEngine, load_engine

CPUINFO_AMX = "processor\t: 0\nflags\t\t: fpu sse2 avx512f avx512_bf16 amx_bf16 amx_tile amx_int8\n"
CPUINFO_AVX2 = "processor\t: 0\nflags\t\t: fpu sse2 avx2 fma\n"


@pytest.fixture(scope="module")
def bfloat16_tiny_en(tiny_en_dir: Path) -> FasterWhisperEngine:
    return FasterWhisperEngine(
        tiny_en_dir, "tiny.en", "cpu", "int8", 2, bfloat16_encoder.TORCH_BFLOAT16
    )


def test_amx_is_read_from_the_cpu_flags(tmp_path: Path) -> None:
    amx, avx2 = tmp_path / "amx", tmp_path / "avx2"
    amx.write_text(CPUINFO_AMX)
    avx2.write_text(CPUINFO_AVX2)
    assert bfloat16_encoder.cpu_has_amx_bf16(amx)
    assert not bfloat16_encoder.cpu_has_amx_bf16(avx2)
    assert not bfloat16_encoder.cpu_has_amx_bf16(tmp_path / "missing")


def test_the_setting_picks_the_encoder_and_a_gpu_keeps_ctranslate2s() -> None:
    choose = bfloat16_encoder.chosen_backend
    setting = bfloat16_encoder.SETTING
    assert choose({}, "cpu") == "ctranslate2"  # the default
    assert choose({setting: "ctranslate2"}, "cpu") == "ctranslate2"
    assert choose({setting: " Torch-BFloat16 "}, "cpu") == "torch-bfloat16"
    assert choose({setting: "torch-bfloat16"}, "cuda") == "ctranslate2"
    with pytest.raises(ValueError, match=r"WASYNC_CPU_ENCODER='fast' is not one of ctranslate2, "):
        choose({setting: "fast"}, "cpu")


def test_a_bad_setting_fails_the_model_load_with_what_to_set(
    tiny_en_dir: Path, tiny_en_pt_dir: Path
) -> None:
    with pytest.raises(ValueError, match="WASYNC_CPU_ENCODER='BF16' is not one of"):
        load_engine(tiny_en_dir, {"WASYNC_CPU_ENCODER": "BF16"})
    # the openai engine has no use for it, but a typo is still one
    with pytest.raises(ValueError, match="WASYNC_CPU_ENCODER"):
        load_engine(tiny_en_pt_dir, {"WASYNC_CPU_ENCODER": "bf16"})


def test_the_default_engine_encodes_in_ctranslate2(tiny_en_dir: Path) -> None:
    engine = load_engine(tiny_en_dir, {"WASYNC_DEVICE": "cpu"})
    assert isinstance(engine, FasterWhisperEngine)
    assert engine.encoder_backend == "ctranslate2"
    assert engine.model.encoder is None


def test_the_setting_reaches_the_engine_through_the_environment(tiny_en_dir: Path) -> None:
    engine = load_engine(
        tiny_en_dir, {"WASYNC_DEVICE": "cpu", "WASYNC_CPU_ENCODER": "torch-bfloat16"}
    )
    assert isinstance(engine, FasterWhisperEngine)
    assert engine.encoder_backend == "torch-bfloat16"


def test_its_output_is_close_to_ctranslate2s_float32_encoder(
    bfloat16_tiny_en: FasterWhisperEngine, tiny_en_dir: Path, data_dir: Path
) -> None:
    import ctranslate2
    from faster_whisper.audio import pad_or_trim

    exact = ctranslate2.models.Whisper(str(tiny_en_dir), device="cpu", compute_type="float32")
    clip = decode_audio(data_dir / "en_short.wav")
    window = np.asarray(pad_or_trim(bfloat16_tiny_en.model.feature_extractor(clip)[..., :-1]))
    for frames in (3000, 1200):  # a whole window, and a stretch with 10 s of padding
        features = np.ascontiguousarray(window[np.newaxis, :, :frames])
        ours = np.asarray(bfloat16_tiny_en.model.encode_as_given(features))
        reference = np.asarray(exact.encode(ctranslate2.StorageView.from_array(features)))
        assert ours.shape == reference.shape == (1, frames // 2, 384)
        scale = np.abs(reference).mean()
        assert np.abs(ours - reference).mean() < 0.05 * scale


def test_the_engine_transcribes_with_it_short_and_long(
    bfloat16_tiny_en: FasterWhisperEngine, data_dir: Path
) -> None:
    assert bfloat16_tiny_en.encoder_backend == "torch-bfloat16"
    fox = decode_audio(data_dir / "en_short.wav")
    assert "lazy dog" in bfloat16_tiny_en.transcribe(fox, TranscribeOptions()).text.lower()
    pause = np.zeros(SAMPLE_RATE, np.float32)
    samples = np.concatenate([decode_audio(data_dir / "en_30s.wav"), pause, fox, pause, fox])
    found = bfloat16_tiny_en.transcribe(samples, TranscribeOptions())
    assert found.batch_size > 1  # the batched path: windows encoded two at a time
    assert found.text.lower().count("lazy dog") == 2


def test_int8_stored_weights_are_told_apart(tiny_en_dir: Path) -> None:
    floats = read_ctranslate2(tiny_en_dir / "model.bin", prefix="encoder/")
    assert floats and all(name.startswith("encoder/") for name in floats)
    assert not is_quantised(floats)
    assert is_quantised({**floats, "encoder/layer_0/ffn/linear_0/weight_scale": np.ones(1)})


def test_a_multilingual_model_detects_its_language_with_it(base_dir: Path, data_dir: Path) -> None:
    engine = FasterWhisperEngine(base_dir, "base", "cpu", "int8", 2, "torch-bfloat16")
    found = engine.transcribe(decode_audio(data_dir / "en_30s.wav"), TranscribeOptions())
    assert found.language == "en"
    assert len(found.text.split()) > 20


def test_without_torch_the_setting_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    # the serve-only install and the default image hold no torch
    monkeypatch.setattr(bfloat16_encoder, "torch_installed", lambda: False)
    with pytest.raises(
        ValueError, match=r"needs torch and openai-whisper: install wasync\[openai\]"
    ):
        bfloat16_encoder.chosen_backend({"WASYNC_CPU_ENCODER": "torch-bfloat16"}, "cpu")
    assert bfloat16_encoder.chosen_backend({}, "cpu") == "ctranslate2"
