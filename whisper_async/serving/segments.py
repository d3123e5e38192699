"""Moving transcribed pieces in time: a window's or a stretch's segments into the whole file."""

from __future__ import annotations

from typing import Any


def shifted(piece: dict[str, Any], offset: float, end: float) -> dict[str, Any]:
    """`piece` (a segment or a word) moved by `offset`, its times clamped to [offset, end].

    Whisper's timestamps can run past the audio it was given (a 0.1 s clip came back with a
    segment ending at 0.48 s); no time in the result lies outside the audio.
    """
    start = min(max(float(piece["start"]) + offset, offset), end)
    stop = min(max(float(piece["end"]) + offset, start), end)
    return {**piece, "start": round(start, 3), "end": round(stop, 3)}


def shifted_segment(
    segment: dict[str, Any], offset: float, end: float, index: int
) -> dict[str, Any]:
    """A segment, and its words if it has them, moved into place and renumbered `index`."""
    moved = shifted(segment, offset, end)
    moved["id"] = index
    if "words" in segment:
        moved["words"] = [shifted(word, offset, end) for word in segment["words"]]
    return moved
