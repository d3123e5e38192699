"""Language detection's encoder passes reused by decoding (serving/detection_reuse.py): a
short clip's one window, and a one-language file's chunks; on the real multilingual base model,
with CTranslate2's encoder passes counted."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.helpers.engines import encoder_passes
from whisper_async.attributes import TranscribeOptions
from whisper_async.serving.audio import SAMPLE_RATE, decode_audio


@contextmanager
def counted(engine: Any, reuse: bool = True) -> Iterator[list[tuple[int, int]]]:
    """The engine's encoder passes (windows, frames), with the reuse on or off."""
    before = engine.model.reuse_detection
    engine.model.reuse_detection = reuse
    try:
        with encoder_passes(engine) as passes:
            yield passes
    finally:
        engine.model.reuse_detection = before


def test_a_short_clip_left_to_detection_is_encoded_once_not_twice(
    faster_base: Any, data_dir: Path
) -> None:
    german = decode_audio(data_dir / "de_short.wav")
    with counted(faster_base, reuse=False) as made:
        before = faster_base.transcribe(german, TranscribeOptions())
    assert len(made) == 2  # faster-whisper's own: detection, then decoding
    with counted(faster_base) as made:
        found = faster_base.transcribe(german, TranscribeOptions())
    assert len(made) == 1
    assert found.language == before.language == "de"
    assert "morgen" in found.text.lower()


def test_detection_is_faster_whispers_own(faster_base: Any, data_dir: Path) -> None:
    from faster_whisper import WhisperModel

    for name in ("de_short.wav", "en_short.wav"):
        audio = decode_audio(data_dir / name)
        language, probability, _ = WhisperModel.detect_language(faster_base.model, audio)
        found = faster_base.transcribe(audio, TranscribeOptions())
        assert (found.language, found.language_probability) == (language, probability)


def test_a_kept_pass_serves_only_the_features_it_was_computed_from(
    faster_base: Any, data_dir: Path
) -> None:
    model = faster_base.model
    german = decode_audio(data_dir / "de_short.wav")
    english = decode_audio(data_dir / "en_short.wav")
    model.detect_language(features=model.feature_extractor(german))  # kept, never decoded
    with counted(faster_base) as made:
        found, _ = model.transcribe(english, language="en", beam_size=1)
        text = "".join(piece.text for piece in found)
    assert len(made) == 1
    assert "fox" in text.lower()


def test_over_one_window_decoding_reads_the_very_pass_it_would_have_made(
    faster_base: Any, data_dir: Path
) -> None:
    model = faster_base.model
    fox = decode_audio(data_dir / "en_short.wav")
    audio = np.concatenate([decode_audio(data_dir / "en_30s.wav"), fox, fox])
    assert len(audio) > 30 * SAMPLE_RATE
    texts, passes = [], []
    for reuse in (False, True):
        with counted(faster_base, reuse) as made:
            found, info = model.transcribe(audio, beam_size=1)
            texts.append([(piece.start, piece.text) for piece in found])
        passes.append(len(made))
        assert info.language == "en"
    assert texts[0] == texts[1]
    assert passes[1] == passes[0] - 1


def two_chunks_of_english(data_dir: Path) -> np.ndarray:
    """61 s: a 30 s clip twice, a second apart: two chunks of one language."""
    english = decode_audio(data_dir / "en_30s.wav")
    return np.concatenate([english, np.zeros(SAMPLE_RATE, np.float32), english])


def test_a_long_file_in_one_language_is_decoded_from_its_detection_passes(
    faster_base: Any, data_dir: Path
) -> None:
    audio = two_chunks_of_english(data_dir)
    found, passes = [], []
    for reuse in (False, True):
        with counted(faster_base, reuse) as made:
            found.append(faster_base.transcribe(audio, TranscribeOptions()))
        passes.append(len(made))
    assert found[0].language == found[1].language == "en"
    assert found[1].segments == found[0].segments
    assert found[1].batch_size > 1  # the batched path, in the chunks detection encoded
    assert passes[1] < passes[0]


def test_nothing_is_kept_past_the_budget(
    faster_base: Any, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from whisper_async.serving import detection_reuse

    audio = two_chunks_of_english(data_dir)
    with counted(faster_base, reuse=False) as made:
        before = faster_base.transcribe(audio, TranscribeOptions())
    monkeypatch.setattr(detection_reuse, "KEPT_BYTES", 0)
    with counted(faster_base) as unkept:
        found = faster_base.transcribe(audio, TranscribeOptions())
    assert found.segments == before.segments
    assert len(unkept) == len(made)
