"""Where the batched path cuts audio: only in silence, into whole stretches of the recording.

faster-whisper's own batched pipeline finds speech with Silero VAD and then glues the speech
regions end to end, without the silences between them, into chunks of up to 30 s. Each chunk is
audio that never existed: sentences that were seconds apart now touch. On held-back speech with
pauses, the decoder skipped whole phrases just after such seams (docs/serving.md has the figures).

Here a chunk is a contiguous stretch of the original audio, pauses included, that starts and ends
in the middle of a silence: Whisper sees what it was trained on, and no word straddles a cut
unless one voice-activity region alone runs past the window, which is then split at its quietest
point.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SAMPLE_RATE = 16000


@dataclass(frozen=True)
class ChunkRules:
    max_seconds: float = 30.0  # Whisper's window
    min_silence_ms: int = 300  # a quieter gap than this is not a place to cut
    speech_pad_ms: int = 200  # speech edges VAD tends to clip (soft consonants)
    threshold: float = 0.5  # Silero's speech probability


def speech_regions(audio: Any, rules: ChunkRules) -> list[tuple[int, int]]:
    """(start, end) samples of each voice-activity region, never longer than the window."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(
        threshold=rules.threshold,
        min_silence_duration_ms=rules.min_silence_ms,
        speech_pad_ms=rules.speech_pad_ms,
        max_speech_duration_s=rules.max_seconds,
    )
    return [(int(r["start"]), int(r["end"])) for r in get_speech_timestamps(audio, options)]


def group_regions(
    regions: list[tuple[int, int]], total: int, max_seconds: float = 30.0
) -> list[tuple[int, int]]:
    """Contiguous chunks of at most `max_seconds`, each holding whole regions and cut halfway
    through the silence between two regions (or at the audio's ends)."""
    limit = int(max_seconds * SAMPLE_RATE)
    chunks: list[tuple[int, int]] = []
    first = 0
    for index in range(1, len(regions) + 1):
        if index < len(regions) and regions[index][1] - regions[first][0] <= limit:
            continue  # the next region still fits in this chunk
        chunks.append((first, index - 1))
        first = index
    cuts: list[tuple[int, int]] = []
    for first, last in chunks:
        before = regions[first - 1][1] if first > 0 else 0
        after = regions[last + 1][0] if last + 1 < len(regions) else total
        start = (before + regions[first][0]) // 2
        end = (regions[last][1] + after) // 2 if last + 1 < len(regions) else total
        start = max(start, regions[last][1] - limit)  # the chunk must fit in the window
        cuts.append((start, min(end, start + limit)))
    return cuts


def silence_cut_clips(audio: Any, rules: ChunkRules = ChunkRules()) -> list[dict[str, float]]:
    """faster-whisper `clip_timestamps` (seconds) for the batched pipeline; [] without speech."""
    regions = speech_regions(audio, rules)
    return [
        {"start": start / SAMPLE_RATE, "end": end / SAMPLE_RATE}
        for start, end in group_regions(regions, len(audio), rules.max_seconds)
    ]
