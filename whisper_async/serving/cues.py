"""Split long transcript pieces into subtitle-sized cues by their word timings.

The batched pipeline decodes whole voice-activity chunks (up to 30 s) without timestamp tokens,
so each piece it returns can be half a minute long. Its word timings let us cut those pieces
where a reader expects a new line: after a sentence, at a pause, or before a cue grows too long.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

# Latin and CJK (full-width) marks, written as escapes so that no look-alike hides in the source.
SENTENCE_END = (".", "?", "!", "\u2026", "\u3002", "\uff1f", "\uff01")
CLAUSE_END = (",", ";", ":", "\uff0c", "\u3001")


@dataclass(frozen=True)
class CueRules:
    max_seconds: float = 8.0  # subtitle guidelines keep a cue on screen for at most about 7 s
    pause_seconds: float = 1.0  # a silence this long between words starts a new cue


Word = dict[str, Any]  # {"start", "end", "word", "probability"}, as the engines report words


def _ends_with(word: Word, marks: tuple[str, ...]) -> bool:
    return str(word["word"]).rstrip().endswith(marks)


def _cut_point(cue: Sequence[Word]) -> int:
    """Where to cut a cue that grew too long: after its last clause mark, else at its end."""
    for index in range(len(cue), 0, -1):
        if _ends_with(cue[index - 1], CLAUSE_END):
            return index
    return len(cue)


def split_words(words: Sequence[Word], rules: CueRules = CueRules()) -> list[list[Word]]:
    """Group consecutive words into cues; every word lands in exactly one cue, in order."""
    cues: list[list[Word]] = []
    current: list[Word] = []
    for word in words:
        if current:
            pause = float(word["start"]) - float(current[-1]["end"])
            too_long = float(word["end"]) - float(current[0]["start"]) > rules.max_seconds
            if pause >= rules.pause_seconds:
                cues.append(current)
                current = []
            elif too_long:
                cut = _cut_point(current)
                cues.append(current[:cut])
                current = current[cut:]
        current.append(word)
        if _ends_with(word, SENTENCE_END):
            cues.append(current)
            current = []
    if current:
        cues.append(current)
    return cues


def cue_pieces(
    pieces: Iterable[tuple[float, float, str, Sequence[Word]]], rules: CueRules = CueRules()
) -> list[tuple[float, float, str, list[Word]]]:
    """(start, end, text, words) pieces re-cut into cues; a piece without words stays whole."""
    cues: list[tuple[float, float, str, list[Word]]] = []
    for start, end, text, words in pieces:
        if not words:
            cues.append((start, end, text, []))
            continue
        for group in split_words(words, rules):
            text_of_group = "".join(str(w["word"]) for w in group)
            cues.append((float(group[0]["start"]), float(group[-1]["end"]), text_of_group, group))
    return cues
