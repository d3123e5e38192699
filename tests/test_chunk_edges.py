"""No phrase lost at a chunk edge: one short file joined from three clips with pauses.

The file is 43 s, so both decoding paths cut it: sequential decoding into 30 s windows, the
batched path into chunks. faster-whisper's own batched pipeline glued voice regions together and
lost whole phrases after pauses (issue 18); wasync cuts only in silence (serving/chunks.py).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from bench.metrics import Alignment, reference_text, tokens
from whisper_async.attributes import TranscribeOptions
from whisper_async.serving.audio import SAMPLE_RATE, decode_audio
from whisper_async.serving.chunks import ChunkRules, group_regions, silence_cut_clips

pytestmark = pytest.mark.slow

CLIPS = ["en_numbers.wav", "en_30s.wav", "en_short.wav"]
PAUSES = [2.0, 0.7]  # seconds of silence after the first and the second clip


@pytest.fixture(scope="module")
def joined(data_dir: Path) -> tuple[np.ndarray, str, list[tuple[float, float]]]:
    """The audio, its reference, and where each pause lies (seconds)."""
    parts: list[np.ndarray] = []
    pauses: list[tuple[float, float]] = []
    for name, pause in zip(CLIPS, [*PAUSES, 0.0], strict=True):
        parts.append(decode_audio(data_dir / name))
        start = sum(len(p) for p in parts) / SAMPLE_RATE
        parts.append(np.zeros(int(pause * SAMPLE_RATE), np.float32))
        pauses.append((start, start + pause))
    reference = " ".join(reference_text(data_dir / name) for name in CLIPS)
    return np.concatenate(parts), reference, pauses[:-1]


def lost_phrases(reference: str, transcript: str) -> list[str]:
    words = tokens(reference, "en")
    alignment = Alignment.of(words, tokens(transcript, "en"))
    return [" ".join(words[a:b]) for a, b in alignment.deletion_runs(3)]


@pytest.mark.parametrize("batch_size", [None, 8], ids=["default", "batched"])
def test_no_phrase_is_dropped_at_a_chunk_edge(faster_tiny_en, joined, batch_size) -> None:  # type: ignore[no-untyped-def]
    audio, reference, _ = joined
    result = faster_tiny_en.transcribe(audio, TranscribeOptions(batch_size=batch_size))
    assert lost_phrases(reference, result.text) == []
    # The clips' first and last words, on both sides of each pause, are all there.
    text = result.text.lower()
    for word in ("please", "tomorrow", "speech", "second", "quick", "dog"):
        assert word in text, (word, result.text)


def test_batched_chunks_are_cut_inside_the_pauses(faster_tiny_en, joined) -> None:  # type: ignore[no-untyped-def]
    audio, _, pauses = joined
    clips = faster_tiny_en.batch_clips(audio)
    assert len(clips) >= 2  # 43 s does not fit one window
    assert clips[0]["start"] < 0.5 and clips[-1]["end"] == pytest.approx(len(audio) / SAMPLE_RATE)
    for before, after in itertools.pairwise(clips):
        assert before["end"] == after["start"]  # contiguous: nothing is skipped
        assert any(start <= before["end"] <= end for start, end in pauses), (before, pauses)
    assert all(c["end"] - c["start"] <= 30.0 for c in clips)


def test_regions_are_grouped_into_whole_windows_cut_halfway_through_silence() -> None:
    second = SAMPLE_RATE
    regions = [(1 * second, 5 * second), (6 * second, 20 * second), (22 * second, 33 * second)]
    chunks = group_regions(regions, 40 * second, 30.0)
    # 1-20 s fits one window; 22-33 s would make it 32 s, so the cut is at 21 s, mid-silence.
    assert chunks == [(second // 2, 21 * second), (21 * second, 40 * second)]
    assert group_regions([], 40 * second) == []


def test_a_file_that_fits_one_window_is_not_cut(faster_tiny_en, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    audio = decode_audio(data_dir / "en_30s.wav")[: 29 * SAMPLE_RATE]
    assert faster_tiny_en.batch_clips(audio) == []
    result = faster_tiny_en.transcribe(audio, TranscribeOptions(batch_size=8))
    assert result.batch_size == 1  # nothing to batch: the sequential path, no VAD
    assert silence_cut_clips(np.zeros(5 * SAMPLE_RATE, np.float32), ChunkRules()) == []
