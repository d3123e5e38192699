"""Long audio in windows: how the stream is cut, and how the real engine's windows merge."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from whisper_async.attributes import TranscribeOptions
from whisper_async.serving.audio import SAMPLE_RATE, decode_audio, packet_seconds, stream_samples
from whisper_async.serving.engines import Transcription
from whisper_async.serving.transcription import transcribe_file
from whisper_async.serving.windows import (
    SHORTEST_WINDOW,
    AudioTooLongError,
    WindowPlan,
    cut_windows,
    default_window_seconds,
    transcribe_windows,
)


def chunks_of(samples: np.ndarray, size: int = 1000) -> list[np.ndarray]:
    return [samples[i : i + size] for i in range(0, len(samples), size)]


def noise(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(int(seconds * SAMPLE_RATE)) * 0.3).astype(np.float32)


def test_windows_cover_the_stream_exactly_and_never_exceed_the_window() -> None:
    samples = noise(50)
    plan = WindowPlan(window_seconds=12, max_seconds=100)
    windows = [(start, window.copy()) for start, window in cut_windows(chunks_of(samples), plan)]
    assert len(windows) >= 5
    position = 0
    for start, window in windows:
        assert start == position
        assert len(window) <= 12 * SAMPLE_RATE
        np.testing.assert_array_equal(window, samples[start : start + len(window)])
        position += len(window)
    assert position == len(samples)


def test_each_cut_falls_in_the_pause_near_the_window_end() -> None:
    # speech-like noise with a 0.5 s pause at 10.2 s; windows of 12 s look back 3 s for a pause
    samples = np.concatenate([noise(10.2), np.zeros(SAMPLE_RATE // 2, np.float32), noise(8, 1)])
    plan = WindowPlan(window_seconds=12, max_seconds=100)
    first_start, first = next(iter(cut_windows(chunks_of(samples), plan)))
    cut = (first_start + len(first)) / SAMPLE_RATE
    assert 10.2 <= cut <= 10.7


def test_a_stream_past_the_limit_is_refused_while_decoding() -> None:
    plan = WindowPlan(window_seconds=5, max_seconds=8)
    with pytest.raises(AudioTooLongError, match="WASYNC_MAX_AUDIO_SECONDS=8"):
        for _ in cut_windows(chunks_of(noise(10)), plan):
            pass


def test_the_default_window_fits_a_quarter_of_the_free_memory() -> None:
    gib = 1 << 30
    assert default_window_seconds(16 * gib, 1) == 1800  # capped at 30 minutes
    assert default_window_seconds(2 * gib, 1) == pytest.approx(512)
    assert default_window_seconds(2 * gib, 2) == SHORTEST_WINDOW  # never below 5 minutes
    assert default_window_seconds(None, 1) == SHORTEST_WINDOW


def test_packet_count_gives_the_length_without_decoding(data_dir: Path) -> None:
    assert packet_seconds(data_dir / "en_30s.wav", stop_after=3600) == pytest.approx(31.15, 0.01)
    decoded = sum(len(c) for c in stream_samples(data_dir / "en_30s.wav")) / SAMPLE_RATE
    assert decoded == pytest.approx(31.15, 0.01)


class Recorder:
    """The real engine's transcribe, remembering the options each window was given."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.calls: list[tuple[float, TranscribeOptions]] = []

    def __call__(self, samples: Any, options: TranscribeOptions) -> Transcription:
        self.calls.append((len(samples) / SAMPLE_RATE, options))
        result: Transcription = self.engine.transcribe(samples, options)
        return result


def test_windows_merge_into_one_transcript_with_times_in_place(
    faster_tiny_en: Any, data_dir: Path
) -> None:
    fox = decode_audio(data_dir / "en_short.wav")  # 3.44 s
    pause = np.zeros(SAMPLE_RATE, np.float32)
    numbers = decode_audio(data_dir / "en_numbers.wav")  # 3.49 s
    samples = np.concatenate([fox, pause, numbers])
    recorder = Recorder(faster_tiny_en)
    merged = transcribe_windows(
        recorder,
        cut_windows(chunks_of(samples, 4096), WindowPlan(window_seconds=5, max_seconds=60)),
        TranscribeOptions(word_timestamps=True),
    )
    assert len(recorder.calls) == 2
    first_seconds = recorder.calls[0][0]
    assert 3.44 <= first_seconds <= 4.44  # cut inside the pause between the clips
    # the second window is prompted with the first one's words, and detects its own language
    second = recorder.calls[1][1]
    assert second.language is None and merged.language == "en"
    assert second.initial_prompt and "lazy dog" in second.initial_prompt.lower()
    assert "lazy dog" in merged.text.lower() and "call me back" in merged.text.lower()
    assert merged.audio_seconds == pytest.approx(len(samples) / SAMPLE_RATE, abs=0.001)
    assert [s["id"] for s in merged.segments] == list(range(len(merged.segments)))
    assert merged.segments[-1]["start"] >= first_seconds  # the second window's times moved
    for segment in merged.segments:
        assert 0 <= segment["start"] <= segment["end"] <= merged.audio_seconds
        for word in segment["words"]:
            assert 0 <= word["start"] <= word["end"] <= merged.audio_seconds


def test_a_clip_shorter_than_its_timestamps_is_clamped_to_its_length(
    faster_tiny_en: Any, data_dir: Path, tmp_path: Path
) -> None:
    """Issue 12: a 0.1 s clip came back with a segment ending at 0.48 s. On this clip (0.1 s of
    "call") tiny.en returns a segment ending at 1.0 s (openai-whisper's: at 22.8 s)."""
    import wave

    numbers = decode_audio(data_dir / "en_numbers.wav")
    start = int(1.5 * SAMPLE_RATE)
    clip = (numbers[start : start + SAMPLE_RATE // 10] * 32767).astype(np.int16)
    path = tmp_path / "tenth.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(clip.tobytes())
    result = transcribe_file(faster_tiny_en, path, TranscribeOptions(), WindowPlan())
    assert result["duration"] == pytest.approx(0.1)
    assert result["segments"], "the clip should give a segment whose end needs clamping"
    for segment in result["segments"]:
        assert 0 <= segment["start"] <= segment["end"] <= 0.1


def test_a_window_of_digital_silence_is_not_decoded_and_the_speech_around_it_is(
    faster_tiny_en: Any, data_dir: Path
) -> None:
    """Hours of silence (the VAD hears no voice, so the engine decoded every 30 s of it to be
    sure) took 11 minutes for 4 hours; a window of it is now skipped, dither and all."""
    fox = decode_audio(data_dir / "en_short.wav")
    dither = np.random.default_rng(0).integers(-2, 3, 20 * SAMPLE_RATE) / 32768
    samples = np.concatenate([fox, dither.astype(np.float32), fox])
    recorder = Recorder(faster_tiny_en)
    merged = transcribe_windows(
        recorder,
        cut_windows(chunks_of(samples, 4096), WindowPlan(window_seconds=5, max_seconds=60)),
        TranscribeOptions(),
    )
    decoded = [seconds for seconds, _ in recorder.calls]
    assert len(decoded) == 2 and sum(decoded) < 10  # the fox twice, not the 20 s between
    assert merged.text.lower().count("lazy dog") == 2
    assert merged.audio_seconds == pytest.approx(len(samples) / SAMPLE_RATE, abs=0.001)
    assert merged.segments[-1]["start"] > 20  # the second fox, where it is in the file


def test_windows_are_not_prompted_when_prompting_between_them_is_off(
    faster_tiny_en: Any, data_dir: Path
) -> None:
    # Off where a multilingual model detects the language (transcription.prompts_between_windows,
    # tested with the real engines in test_serving_engines.py).
    fox = decode_audio(data_dir / "en_short.wav")
    samples = np.concatenate([fox, np.zeros(SAMPLE_RATE, np.float32), fox])
    recorder = Recorder(faster_tiny_en)
    merged = transcribe_windows(
        recorder,
        cut_windows(chunks_of(samples, 4096), WindowPlan(window_seconds=5, max_seconds=60)),
        TranscribeOptions(),
        prompt_between_windows=False,
    )
    assert len(recorder.calls) == 2 and recorder.calls[1][1].initial_prompt is None
    assert merged.text.lower().count("lazy dog") == 2
