"""Long audio in bounded windows: memory stays flat however long the file is.

The engines transcribe a whole array at once, and their feature extraction costs about a
quarter of a megabyte per second of audio, so ten hours would need gigabytes. Here the decoded
stream is cut into windows of `window_seconds` (normal files are one window), each cut placed
at the quietest moment near the window's end so that no word is split. Each window is
transcribed on its own, conditioned on the previous window's last text as whisper conditions
its own 30 s windows, and the pieces are merged with their timestamps shifted into place.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..attributes import TranscribeOptions
from .audio import SAMPLE_RATE
from .engines import Segment, Transcription
from .segments import shifted_segment

FRAME = SAMPLE_RATE // 100  # 10 ms energy frames when looking for a quiet place to cut
SMOOTHING_FRAMES = 20  # a pause is quiet for 200 ms, not a single quiet frame
# A window whose loudest sample is this quiet (-72 dBFS, a few steps of 16-bit audio: digital
# silence and dither) holds no speech anyone recorded; the VAD hears no voice there either, and
# the engines then decode it in 30 s windows to be sure: 4 hours of it took 11 minutes.
SILENT_PEAK = 8 / 32768
PROMPT_CHARACTERS = 600  # whisper keeps at most 223 prompt tokens; this is more than that

# faster-whisper's feature extraction (a float64 STFT of the whole array) peaks at about 1 MiB
# per second of audio (bench/long_audio.py); openai-whisper's torch STFT needs less.
BYTES_PER_AUDIO_SECOND = 1 << 20
MEMORY_SHARE = 0.25  # of the memory available at start, for all windows in flight together
SHORTEST_WINDOW, LONGEST_WINDOW = 300.0, 1800.0


class AudioTooLongError(ValueError):
    """The audio is longer than the server accepts (`WASYNC_MAX_AUDIO_SECONDS`)."""


class ClientGoneError(Exception):
    """The client closed the connection while its audio was transcribed: nobody will read the
    answer, so the windows left are not transcribed."""


@dataclass(frozen=True)
class WindowPlan:
    window_seconds: float = 1800.0
    max_seconds: float = 4 * 3600.0

    @property
    def search_seconds(self) -> float:
        """How far before a window's end a cut may move to find silence."""
        return min(30.0, self.window_seconds / 4)


def default_window_seconds(available_bytes: int | None, concurrency: int) -> float:
    """The longest window whose transcription fits a quarter of the memory available, shared
    by the transcriptions that may run at once: 30 minutes on any instance with 8 GiB free,
    never under 5 minutes."""
    if available_bytes is None:
        return SHORTEST_WINDOW
    budget = available_bytes * MEMORY_SHARE / max(1, concurrency)
    return max(SHORTEST_WINDOW, min(LONGEST_WINDOW, budget / BYTES_PER_AUDIO_SECOND))


def too_long_message(seconds: float | None, plan: WindowPlan) -> str:
    """The 413 message: the audio's length when known, the limit, and the setting to change."""
    limit = f"{clock(plan.max_seconds)} (WASYNC_MAX_AUDIO_SECONDS={plan.max_seconds:g})"
    # the packets' timing, not decoded samples: a file can declare more than it holds
    length = (  # rounded up: a length past the limit never reads as the limit itself
        f"is {clock(math.ceil(seconds))} long by its timing"
        if seconds is not None
        else "runs past the limit"
    )
    return (
        f"the audio {length}; this endpoint accepts at most {limit}: split the file, or "
        "redeploy with `wasync deploy --env WASYNC_MAX_AUDIO_SECONDS=N`"
    )


def clock(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


def quietest_cut(samples: Any, start: int, end: int) -> int:
    """The sample index between `start` and `end` at the middle of the quietest 200 ms."""
    import numpy as np

    frames = (end - start) // FRAME
    if frames <= SMOOTHING_FRAMES:
        return end
    region = samples[start : start + frames * FRAME].reshape(frames, FRAME)
    energy = np.einsum("ij,ij->i", region, region)
    smoothed = np.convolve(energy, np.ones(SMOOTHING_FRAMES), mode="valid")
    quietest = int(np.argmin(smoothed))
    return start + (quietest + SMOOTHING_FRAMES // 2) * FRAME


def cut_windows(chunks: Iterable[Any], plan: WindowPlan) -> Iterator[tuple[int, Any]]:
    """(first sample, samples) for each window of the stream, in order.

    One buffer of `window_seconds` is reused for every window; a window's array is a view into
    it and is valid until the next one is asked for. Raises AudioTooLongError as soon as the
    stream passes `max_seconds` (for files whose packets hid their length).
    """
    import numpy as np

    size = max(int(plan.window_seconds * SAMPLE_RATE), SAMPLE_RATE)
    search = int(plan.search_seconds * SAMPLE_RATE)
    limit = int(plan.max_seconds * SAMPLE_RATE)
    buffer = np.empty(size, dtype=np.float32)
    filled = 0  # samples in the buffer
    offset = 0  # stream position of buffer[0]
    for chunk in chunks:
        if offset + filled + len(chunk) > limit:
            raise AudioTooLongError(too_long_message(None, plan))
        position = 0
        while position < len(chunk):
            taken = min(size - filled, len(chunk) - position)
            buffer[filled : filled + taken] = chunk[position : position + taken]
            filled += taken
            position += taken
            if filled == size:
                cut = quietest_cut(buffer, size - search, size)
                yield offset, buffer[:cut]
                kept = size - cut
                buffer[:kept] = buffer[cut:size].copy()
                offset += cut
                filled = kept
    if filled:
        yield offset, buffer[:filled]


@dataclass
class Merged:
    """A whole file's transcript, merged from its windows."""

    language: str
    language_probability: float
    batch_size: int
    audio_seconds: float
    segments: list[Segment] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(segment["text"] for segment in self.segments).strip()


def transcribe_windows(
    transcribe: Callable[[Any, TranscribeOptions], Transcription],
    windows: Iterable[tuple[int, Any]],
    options: TranscribeOptions,
    prompt_between_windows: bool = True,
    client_gone: Callable[[], bool] = lambda: False,
) -> Merged:
    """Transcribe each window and merge the results into one transcript.

    The result's language is the one the first window with speech detected; a language left to
    detection is detected again in each window, as the engines do within one (a long recording
    may change language). With sequential decoding each window is prompted with the text before
    it, unless `prompt_between_windows` is off: a multilingual model detecting the language
    copies a prompt in another language instead of transcribing. `transcribe` is an engine's;
    its errors propagate unchanged. `client_gone` is asked before each window.
    """
    merged: Merged | None = None
    current = options
    found_speech = False
    for first_sample, samples in windows:
        if client_gone():
            done = merged.audio_seconds if merged else 0.0
            raise ClientGoneError(f"the client went away after {done:g} s were transcribed")
        offset = first_sample / SAMPLE_RATE
        end = offset + len(samples) / SAMPLE_RATE
        if _silent(samples):
            part = Transcription(current.language or "en", 0.0)
        else:
            part = transcribe(samples, current)
        if merged is None:
            merged = Merged(part.language, part.language_probability, part.batch_size, 0.0)
        merged.audio_seconds = end
        for segment in part.segments:
            merged.segments.append(shifted_segment(segment, offset, end, len(merged.segments)))
        if part.segments and not found_speech:
            merged.language = part.language
            merged.language_probability = part.language_probability
            found_speech = True
        if part.segments and part.batch_size <= 1 and prompt_between_windows:
            current = current.with_values({"initial_prompt": _tail(merged.segments)})
    if merged is None:
        raise ValueError("no windows: the stream had no samples")
    return merged


def _silent(samples: Any) -> bool:
    # max and min, not abs(): abs would copy the window (115 MB for 30 minutes) at its peak
    return len(samples) == 0 or max(float(samples.max()), -float(samples.min())) <= SILENT_PEAK


def _tail(segments: list[Segment]) -> str:
    """The last words before a window, as its prompt: at most PROMPT_CHARACTERS, whole words."""
    text = ""
    for segment in reversed(segments):
        text = segment["text"] + text
        if len(text) >= PROMPT_CHARACTERS:
            break
    text = text.strip()
    if len(text) > PROMPT_CHARACTERS:
        text = text[-PROMPT_CHARACTERS:].split(" ", 1)[-1]
    return text
