"""Voice regions and what decoding does with them: how the batched path cuts audio into chunks
and finds the speech a chunk's text left out, and how a long sequential decode is checked
against the regions (`stands_on_voice`: text over silence; `unheard`: voice without text).

The cause of lost phrases (issue 18; figures in docs/serving.md): the batched pipeline decodes
each chunk without timestamp tokens, and Whisper often ends a chunk's text at a pause, although
more sentences follow in the same chunk. Sequential decoding recovers, because it predicts
timestamps and seeks to the last one for its next window; the batched pipeline has no next
window, so everything after that pause was silently dropped. faster-whisper's own chunking makes
this worse by gluing voice regions together without the silences between them.

So, here:
- a chunk is a contiguous stretch of the original audio, pauses included, cut only halfway
  through a silence between voice-activity regions (`plan`);
- after each batched pass, the word timings show which voice-activity regions of a chunk no word
  covers; those stretches are decoded again, side by side, in the next pass (`uncovered`), as
  sequential decoding's seek would.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

SAMPLE_RATE = 16000

Span = tuple[float, float]  # (start, end) seconds


@dataclass(frozen=True)
class ChunkRules:
    max_seconds: float = 30.0  # Whisper's window
    min_silence_ms: int = 300  # a shorter gap between words is not a place to cut
    speech_pad_ms: int = 200  # speech edges VAD tends to clip (soft consonants)
    threshold: float = 0.5  # Silero's speech probability
    min_uncovered_s: float = 0.5  # less speech than this without words is not a lost phrase
    min_covered: float = 0.5  # a region whose words span less of it than this was left out
    max_passes: int = 4  # decoding passes over what earlier passes left out
    loop_stretch_s: float = 15.0  # a chunk whose text loops is decoded again in stretches this long
    long_pause_s: float = 5.0  # unheard speech across a longer pause is decoded again apart
    clip_margin_s: float = 0.5  # audio kept beside unheard speech decoded again
    min_voice_s: float = 0.1  # text stamped over less voice than this may not be spoken there
    faint_threshold: float = 0.1  # Silero's speech probability of the faintest voice
    min_faint_s: float = 0.1  # a span with less time above it than this is silent
    word_gap_s: float = 1.0  # words this far apart are judged apart (`echoes`)
    stamp_slack_s: float = 0.5  # word timings put real words this far into a pause
    # A word timed longer than this spans speech the decode skipped (a stranger's trial: "has"
    # timed over 10 s of skipped sentences, so the regions under it looked covered)
    max_word_s: float = 4.0
    # Faint voice (Silero 0.1-0.5) that no region and no word covers is decoded apart: whispered
    # sentences have no region, so no pass decoded them (`unheard_faint`)
    decode_faint: bool = True


def speech_regions(audio: Any, rules: ChunkRules) -> list[Span]:
    """Voice-activity regions (seconds), none longer than the window."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(
        threshold=rules.threshold,
        min_silence_duration_ms=rules.min_silence_ms,
        speech_pad_ms=rules.speech_pad_ms,
        max_speech_duration_s=rules.max_seconds,
    )
    found = get_speech_timestamps(audio, options)
    return [(r["start"] / SAMPLE_RATE, r["end"] / SAMPLE_RATE) for r in found]


def group_regions(regions: Sequence[Span], total: float, max_seconds: float = 30.0) -> list[Span]:
    """Contiguous chunks of at most `max_seconds`, each holding whole regions and cut halfway
    through the silence between two regions (or at the audio's ends)."""
    groups: list[tuple[int, int]] = []
    first = 0
    for index in range(1, len(regions) + 1):
        if index < len(regions) and regions[index][1] - regions[first][0] <= max_seconds:
            continue  # the next region still fits in this chunk
        groups.append((first, index - 1))
        first = index
    chunks: list[Span] = []
    for first, last in groups:
        before = regions[first - 1][1] if first > 0 else 0.0
        after = regions[last + 1][0] if last + 1 < len(regions) else total
        start = (before + regions[first][0]) / 2
        end = (regions[last][1] + after) / 2 if last + 1 < len(regions) else total
        start = max(start, regions[last][1] - max_seconds)  # the chunk must fit in the window
        chunks.append((round(start, 3), round(min(end, start + max_seconds), 3)))
    return chunks


def split_long(audio: Any, regions: Sequence[Span], max_seconds: float) -> list[Span]:
    """`regions`, each longer than `max_seconds` cut into parts of at most that, each cut at the
    quietest 20 ms near its even place (a pause too short for the VAD, most often): a stretch
    of a region is then never only its last `max_seconds` (`group_regions`)."""
    import numpy as np

    frame = SAMPLE_RATE // 50
    parts: list[Span] = []
    for start, end in regions:
        length = end - start
        if length <= max_seconds:
            parts.append((start, end))
            continue
        count = math.ceil(length / (0.8 * max_seconds))  # 20% of room to move each cut
        slack = (max_seconds - length / count) / 2
        cuts = [start]
        for k in range(1, count):
            even = start + k * length / count
            first, last = int((even - slack) * SAMPLE_RATE), int((even + slack) * SAMPLE_RATE)
            near = np.asarray(audio[first:last], dtype=np.float32)
            frames = near[: len(near) // frame * frame].reshape(-1, frame)
            quietest = int(np.argmin((frames**2).sum(axis=1))) if len(frames) else 0
            cuts.append(round((first + quietest * frame + frame / 2) / SAMPLE_RATE, 3))
        parts += list(zip(cuts, [*cuts[1:], end], strict=True))
    return parts


def regions_cut_to(regions: Sequence[Span], span: Span) -> list[Span]:
    """The regions that overlap `span`, cut to it."""
    start, end = span
    return [(max(a, start), min(b, end)) for a, b in regions if b > start and a < end]


def regions_in(regions: Sequence[Span], span: Span) -> list[Span]:
    """The regions that overlap `span`, cut to it, in seconds from its start."""
    return [(a - span[0], b - span[0]) for a, b in regions_cut_to(regions, span)]


def within(audio: Any, chunk: Span, regions: Sequence[Span], max_seconds: float) -> list[Span]:
    """`chunk` cut into stretches of at most `max_seconds` of the regions inside it, halfway
    through the silences between them; the last ends where the chunk does. A region longer
    than `max_seconds` is cut first (`split_long`): `group_regions` would keep only its last
    `max_seconds`, and the speech before them was never decoded."""
    start, end = chunk
    inside = split_long(audio, regions_cut_to(regions, chunk), max_seconds)
    if not inside:
        return [chunk]
    relative = [(a - start, b - start) for a, b in inside]
    return [
        (round(a + start, 3), round(b + start, 3))
        for a, b in group_regions(relative, end - start, max_seconds)
    ]


def overlap(span: Span, spans: Sequence[Span]) -> float:
    """Seconds of `span` under `spans`, summed over them."""
    return sum(max(0.0, min(b, span[1]) - max(a, span[0])) for a, b in spans)


WORD_REACH_SECONDS = 3.0  # a word over silence this near voice is drifted timing, not speech


def fit_to_voice(words: Sequence[dict[str, Any]], regions: Sequence[Span]) -> list[dict[str, Any]]:
    """Each word's times cut to the voice region it overlaps most (regions sorted, apart).

    Word timings come from cross-attention, which stretches a word over the silence beside it:
    after 6.5 s pauses a sentence's first word started 4.8 s before its voice, and the cues built
    from such words showed the next sentence's text over the silence. A word over silence within
    WORD_REACH_SECONDS of voice is put at that voice's edge; farther, it keeps its times (speech
    the VAD did not hear)."""
    starts = [start for start, _ in regions]
    fitted = []
    for word in words:
        start, end = float(word["start"]), float(word["end"])
        span = _voice_span(start, end, regions, starts)
        if span is not None and span != (start, end):
            word = {**word, "start": round(span[0], 3), "end": round(span[1], 3)}
        fitted.append(word)
    return fitted


def _voice_span(
    start: float, end: float, regions: Sequence[Span], starts: Sequence[float]
) -> Span | None:
    last = bisect.bisect_right(starts, end) - 1  # the last region starting by the word's end
    best: Span | None = None
    most = -1.0
    index = last
    while index >= 0 and regions[index][1] >= start:
        a, b = regions[index]
        shared = min(end, b) - max(start, a)
        if shared > most:
            best, most = regions[index], shared
        index -= 1
    if best is not None:
        return (max(start, best[0]), min(end, best[1]))
    edges = []  # no region reaches the word: the nearer of the voice before and after it
    if last >= 0:
        edges.append((start - regions[last][1], regions[last][1]))
    if last + 1 < len(regions):
        edges.append((regions[last + 1][0] - end, regions[last + 1][0]))
    if edges and min(edges)[0] <= WORD_REACH_SECONDS:
        edge = min(edges)[1]
        return (edge, edge)
    return None


def unheard(regions: Sequence[Span], heard: Sequence[Span], rules: ChunkRules) -> list[Span]:
    """Stretches of voice regions that no decoded span in `heard` covers (less than
    `rules.min_covered` of each region, of at least `rules.min_uncovered_s`), neighbours
    joined across pauses shorter than `rules.long_pause_s`, with `rules.clip_margin_s` beside
    them."""

    stretches: list[Span] = []
    joining = False
    for a, b in regions:
        length = b - a
        if overlap((a, b), heard) >= rules.min_covered * length:
            joining = False
        elif length >= rules.min_uncovered_s:
            if joining and a - stretches[-1][1] < rules.long_pause_s:
                stretches[-1] = (stretches[-1][0], b)
            else:
                stretches.append((a, b))
            joining = True
    margin = rules.clip_margin_s
    return [(round(max(0.0, a - margin), 3), round(b + margin, 3)) for a, b in stretches]


def stands_on_voice(audio: Any, span: Span, regions: Sequence[Span], rules: ChunkRules) -> bool:
    """Whether decoded text stamped at `span` (seconds in `audio`) has voice under it: it
    overlaps the voice `regions` (`rules.min_voice_s`), or Silero hears even faint voice in it.

    Whisper invents text in long silences: " you" every 30 s, or a sentence from later in the
    file, stamped in the pause before it. Not judged per word: Whisper stamps real sentences too
    short (19 words over 0.94 s of voice). Not by the regions alone: their 0.5 threshold misses
    telephone-band, whispered and one-word speech after a long silence, which Silero rates
    0.2-0.49. And faint voice counts in seconds, not as a share of the span: Whisper stamps a
    lone "No." from its window's start, 5 s before it. On the trial files every segment invented
    in a silence had no frame above the faint threshold, every real one at least 7 (0.22 s)."""
    return overlap(span, regions) >= rules.min_voice_s or not holds_no_voice(audio, span, rules)


def echoes(
    audio: Any, words: Sequence[dict[str, Any]], regions: Sequence[Span], rules: ChunkRules
) -> set[int]:
    """Indexes of the words written twice: a run of words (split at pauses of
    `rules.word_gap_s`) stamped in a silence (no voice within `rules.stamp_slack_s` of it) whose
    text another run within one window also has.

    A wider pass may stamp a lone word seconds from its voice ("Okay" 5 s into the silence
    after it); its own region then looks barely covered and is decoded again, so the word is
    there twice. A run in silence with no twin is kept: it may be the only copy."""
    runs: list[list[int]] = []
    for index, word in enumerate(words):
        if runs and word["start"] - words[runs[-1][-1]]["end"] < rules.word_gap_s:
            runs[-1].append(index)
        else:
            runs.append([index])

    joined = ["".join(str(words[i]["word"]) for i in run).lower() for run in runs]
    texts = ["".join(c for c in text if c.isalnum()) for text in joined]
    starts = [float(words[run[0]]["start"]) for run in runs]
    slack = rules.stamp_slack_s
    found: set[int] = set()
    for number, run in enumerate(runs):
        span = (max(0.0, starts[number] - slack), float(words[run[-1]]["end"]) + slack)
        if stands_on_voice(audio, span, regions, rules):
            continue  # the common case, and the cheap test first
        twin = any(
            other != number
            and abs(starts[other] - starts[number]) < rules.max_seconds
            and texts[other] == texts[number]
            for other in range(len(runs))
        )
        if twin:
            found.update(run)
    return found


VAD_FRAME = 512  # Silero's window at 16 kHz


def faint_frames(audio: Any, span: Span, rules: ChunkRules) -> Any:
    """Per Silero window of `span` (seconds in `audio`), whether it hears even faint voice."""
    import numpy as np
    from faster_whisper.vad import get_vad_model

    piece = audio[int(span[0] * SAMPLE_RATE) : int(span[1] * SAMPLE_RATE)]
    if len(piece) == 0:
        return np.zeros(0, dtype=bool)
    probabilities = get_vad_model()(np.pad(piece, (0, -len(piece) % VAD_FRAME)))
    return np.asarray(probabilities) > rules.faint_threshold


def holds_no_voice(audio: Any, span: Span, rules: ChunkRules) -> bool:
    """Whether Silero hears not even faint voice in `span` (seconds in `audio`)."""
    frames = int(faint_frames(audio, span, rules).sum())
    return frames * VAD_FRAME / SAMPLE_RATE < rules.min_faint_s


def faint_voice(audio: Any, span: Span, rules: ChunkRules) -> list[Span]:
    """Stretches of `span` where Silero hears faint voice for at least `rules.min_uncovered_s`,
    across dips shorter than `rules.min_silence_ms`: whispered speech scores 0.1-0.47, under
    the regions' 0.5, so no region holds it."""
    step = VAD_FRAME / SAMPLE_RATE
    gap = rules.min_silence_ms / 1000
    found: list[Span] = []
    for index, heard in enumerate(faint_frames(audio, span, rules)):
        if not heard:
            continue
        start = span[0] + index * step
        if found and start - found[-1][1] < gap:
            found[-1] = (found[-1][0], start + step)
        else:
            found.append((start, start + step))
    return [
        (round(a, 3), round(min(b, span[1]), 3)) for a, b in found if b - a >= rules.min_uncovered_s
    ]


def silent_gaps(regions: Sequence[Span], words: Sequence[Span], total: float) -> list[Span]:
    """The audio outside every voice region and every word (sorted spans)."""
    taken = sorted([*regions, *words])
    gaps: list[Span] = []
    reached = 0.0
    for a, b in taken:
        if a > reached:
            gaps.append((reached, a))
        reached = max(reached, b)
    if total > reached:
        gaps.append((reached, total))
    return gaps


def unheard_faint(
    audio: Any, regions: Sequence[Span], words: Sequence[Span], rules: ChunkRules
) -> list[Span]:
    """Faint voice that neither a voice region nor a decoded word covers, to decode apart: each
    stretch with `rules.clip_margin_s` beside it, stretches whose margins meet joined (or their
    words would be decoded twice), none longer than the window (`split_long`)."""
    total = len(audio) / SAMPLE_RATE
    margin = rules.clip_margin_s
    joined: list[Span] = []
    for gap in silent_gaps(regions, words, total):
        if gap[1] - gap[0] < rules.min_uncovered_s:
            continue
        for a, b in faint_voice(audio, gap, rules):
            start, end = max(0.0, a - margin), min(total, b + margin)
            if joined and start <= joined[-1][1]:
                joined[-1] = (joined[-1][0], end)
            else:
                joined.append((start, end))
    return [(round(a, 3), round(b, 3)) for a, b in split_long(audio, joined, rules.max_seconds)]


def plan(audio: Any, rules: ChunkRules = ChunkRules()) -> tuple[list[Span], list[Span]]:
    """(voice-activity regions, chunks) of the audio; no chunks without speech."""
    regions = speech_regions(audio, rules)
    return regions, group_regions(regions, len(audio) / SAMPLE_RATE, rules.max_seconds)


def uncovered(
    chunk: Span, word_spans: Sequence[Span], regions: Sequence[Span], rules: ChunkRules
) -> list[Span]:
    """Stretches of `chunk` to decode again: from the end of its last word (or its start) to its
    end when speech follows, and each voice region begun before the last word that its words
    barely cover (also the one the last word ends: greedy decoding of 29 s of fast speech gave
    one word, stamped at the region's end)."""
    inside = regions_cut_to(regions, chunk)
    last = max((end for _, end in word_spans), default=chunk[0])
    timed = [(a, b) for a, b in word_spans if b - a <= rules.max_word_s]

    missing: list[Span] = []
    for start, end in inside:
        # Up to the last word, a region is left out when its words span too little of it.
        length = end - start
        barely = overlap((start, end), timed) < rules.min_covered * length
        if start < last and length >= rules.min_uncovered_s and barely:
            missing.append((start, end))
    # The region the last word ends in may be left out itself; the tail starts after it, or
    # both would be decoded again and their words written twice ("back back on on").
    reach = max([last] + [end for _, end in missing])
    # A region's end is padded past its voice (`speech_pad_ms`): a last word stamped inside
    # the pad leaves no speech after it, and decoding that sliver again makes text up.
    pad = rules.speech_pad_ms / 1000
    tail = [
        (max(a, reach), b)
        for a, b in inside
        if (a, b) not in missing and b - pad - max(a, reach) >= rules.min_uncovered_s
    ]
    if tail:
        # From halfway between the last word and the next speech, to the chunk's end: one
        # stretch, so the sentences after the pause keep their context.
        missing.append(((reach + tail[0][0]) / 2 if tail[0][0] > reach else reach, chunk[1]))
    return [(round(a, 3), round(b, 3)) for a, b in missing]
