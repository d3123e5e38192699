"""The encoder given a window's content and a tail of padding (serving/encoder_input.py): an
experiment, off by default, that the benchmarks switch on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from whisper_async.attributes import TranscribeOptions
from whisper_async.serving.audio import SAMPLE_RATE, decode_audio

WINDOW_FRAMES = 3000


def window_features(engine: Any, samples: np.ndarray) -> np.ndarray:
    """A window's log-mel features as faster-whisper gives them to the encoder."""
    from faster_whisper.audio import pad_or_trim

    return np.asarray(pad_or_trim(engine.model.feature_extractor(samples)[..., :-1]))


def test_content_ends_where_the_zero_padding_begins(faster_tiny_en: Any, data_dir: Path) -> None:
    from whisper_async.serving.encoder_input import content_frames

    fox = decode_audio(data_dir / "en_short.wav")  # 3.44 s: 344 frames
    short = window_features(faster_tiny_en, fox)
    assert content_frames(short) == pytest.approx(344, abs=1)
    longer = window_features(faster_tiny_en, np.concatenate([fox, fox]))
    assert content_frames(np.stack([short, longer])) == content_frames(longer)
    assert content_frames(np.zeros((80, WINDOW_FRAMES), np.float32)) == 0


def test_features_are_cut_a_tail_after_their_content_and_never_past_the_window() -> None:
    from whisper_async.serving.encoder_input import trimmed

    features = np.zeros((80, WINDOW_FRAMES), np.float32)
    features[:, :401] = 1.0
    assert trimmed(features, 500).shape == (80, 902)  # even: the convolution halves it
    assert trimmed(features, None).shape == (80, WINDOW_FRAMES)
    features[:, :2900] = 1.0
    assert trimmed(features, 500).shape == (80, WINDOW_FRAMES)


@pytest.fixture
def trimming(faster_tiny_en: Any) -> Iterator[Any]:
    """The session's engine with the tried tail switched on, and off again afterwards."""
    from whisper_async.serving.encoder_input import TRIED_TAIL_FRAMES

    faster_tiny_en.model.encoder_tail_frames = TRIED_TAIL_FRAMES
    try:
        yield faster_tiny_en
    finally:
        faster_tiny_en.model.encoder_tail_frames = None


def test_the_engine_encodes_whole_windows_by_default(faster_tiny_en: Any, data_dir: Path) -> None:
    features = window_features(faster_tiny_en, decode_audio(data_dir / "en_short.wav"))
    assert faster_tiny_en.model.encode(features).shape[1] == WINDOW_FRAMES // 2


def test_switched_on_the_engine_encodes_a_short_clip_without_30_s_of_padding(
    trimming: Any, data_dir: Path
) -> None:
    from whisper_async.serving.encoder_input import TRIED_TAIL_FRAMES, content_frames

    features = window_features(trimming, decode_audio(data_dir / "en_short.wav"))
    kept = content_frames(features) + TRIED_TAIL_FRAMES
    assert trimming.model.encode(features).shape[1] == pytest.approx(kept / 2, abs=1)
    assert trimming.model.encode_as_given(features).shape[1] == WINDOW_FRAMES // 2


def test_switched_on_a_short_clip_keeps_its_words_and_their_times_inside_it(
    trimming: Any, data_dir: Path
) -> None:
    fox = decode_audio(data_dir / "en_short.wav")
    found = trimming.transcribe(fox, TranscribeOptions(word_timestamps=True))
    assert "lazy dog" in found.text.lower()
    words = [word for segment in found.segments for word in segment["words"]]
    assert words and words[-1]["end"] <= len(fox) / SAMPLE_RATE + 0.5
    assert [w["start"] for w in words] == sorted(w["start"] for w in words)


def test_switched_on_a_long_file_is_decoded_in_batches_of_trimmed_windows(
    trimming: Any, data_dir: Path
) -> None:
    # 40 s: a full window and a short last one, encoded together in one batch
    clip = decode_audio(data_dir / "en_30s.wav")
    fox = decode_audio(data_dir / "en_short.wav")
    pause = np.zeros(SAMPLE_RATE, np.float32)
    samples = np.concatenate([clip, pause, fox, pause, fox])
    found = trimming.transcribe(samples, TranscribeOptions(word_timestamps=True))
    assert found.batch_size > 1
    assert found.text.lower().count("lazy dog") == 2
    seconds = len(samples) / SAMPLE_RATE
    assert all(0 <= s["start"] <= s["end"] <= seconds + 0.5 for s in found.segments)
