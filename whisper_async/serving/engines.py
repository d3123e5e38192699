"""The two engines behind one small interface: load, then transcribe audio to segments.

Heavy imports (ctranslate2, torch) happen inside the loaders, so importing the server stays
fast and torch is imported only when the openai engine is used.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol, TypeVar

from .. import model_languages
from ..attributes import (
    COMPRESSION_RATIO_THRESHOLD,
    MAX_BATCH_SETTING,
    OptionError,
    TranscribeOptions,
    UnsupportedLanguageError,
    defaults_from_env,
    parse_batch_limit,
)
from ..extras import needs_extra
from ..manifest import detect_layout
from . import bfloat16_encoder
from .chunks import (
    SAMPLE_RATE,
    ChunkRules,
    Span,
    echoes,
    fit_to_voice,
    group_regions,
    holds_no_voice,
    overlap,
    plan,
    regions_in,
    speech_regions,
    split_long,
    stands_on_voice,
    uncovered,
    unheard,
    unheard_faint,
    within,
)
from .cues import Word, cue_pieces
from .segments import shifted_segment

log = logging.getLogger("wasync.serve")
# A one-window clip's text this short is checked for voice under it: Whisper writes " you",
# "Thank you." or "Thanks for watching!" over silence (15 s of it gave " you").
FEW_WORDS = 5
Segment = dict[str, Any]
Piece = tuple[float, float, str, list[Word]]  # a decoded stretch: start, end, text, words
FASTER_INSTEAD = "push the model for the faster engine: wasync push-model NAME --engine faster"
DETECTION_BATCH = 8  # chunks encoded at once to detect their language
DETECTION_TAIL_FRAMES = 1000  # padding after a detected chunk's speech (100 frames a second)
ENCODER_POSITIONS = 50  # encoder output positions per second of audio (two frames each)
NO_SPEECH_THRESHOLD = 0.6  # whisper.transcribe()'s defaults, and faster-whisper's
LOG_PROB_THRESHOLD = -1.0
SWITCH_PROBABILITY = 0.5  # a stretch's language ends a run only when it is the likelier half
CONFIDENT_SWITCH = 0.7  # ... and alone, unconfirmed by the stretch after it, only from here


@dataclass(frozen=True)
class LanguageRun:
    start: float  # seconds
    end: float
    language: str
    probability: float  # the lowest of its chunks'


@dataclass
class Transcription:
    language: str
    language_probability: float
    segments: list[Segment] = field(default_factory=list)
    batch_size: int = 1  # what decoded it: 1 for sequential windows

    @property
    def text(self) -> str:
        return "".join(segment["text"] for segment in self.segments).strip()


class Engine(Protocol):
    name: str
    model_name: str
    multilingual: bool
    max_batch_size: int  # the largest batch_size a request may ask for (`batch_limit`)

    def transcribe(self, audio: Any, options: TranscribeOptions) -> Transcription: ...


# Each chunk of a batch holds its encoder's activations at once: 30 minutes of speech at
# batch_size=128 took 7.1 GB on CPU with tiny.en (0.7 GB at the CPU's default of 2).
BATCH_LIMITS = {"cuda": 32, "cpu": 8}
UNBATCHED = 128  # an engine that decodes sequentially whatever batch_size says


def batch_limit(environ: Mapping[str, str], device: str) -> int:
    """The largest batch_size a request may ask for: WASYNC_MAX_BATCH_SIZE, else the device's
    limit, raised to the endpoint's own default batch size (ValueError for a bad setting)."""
    raw = environ.get(MAX_BATCH_SETTING)
    default = defaults_from_env(environ).batch_size or 0
    if not raw:
        return max(BATCH_LIMITS.get(device, BATCH_LIMITS["cpu"]), default)
    limit = parse_batch_limit(raw)
    if default > limit:  # every request that left batch_size to the default would be refused
        raise ValueError(f"WASYNC_DEFAULT_BATCH_SIZE={default} is over {MAX_BATCH_SETTING}={limit}")
    return limit


def check_options(engine: Engine, options: TranscribeOptions) -> None:
    """What this engine cannot do for a request, refused before its audio is read."""
    if options.batch_size and options.batch_size > engine.max_batch_size:
        raise OptionError(
            f"batch_size={options.batch_size} is over this endpoint's limit of "
            f"{engine.max_batch_size} ({MAX_BATCH_SETTING}): every chunk of a batch holds its "
            f"encoder's memory at once; ask for {engine.max_batch_size} or less"
        )
    if engine.multilingual:
        return
    refused = model_languages.refusal(engine.model_name, options.language, options.task)
    if refused:
        raise UnsupportedLanguageError(f"{refused}; deploy a multilingual model")


def _word(start: float, end: float, text: str, probability: float) -> Word:
    return {
        "start": round(float(start), 3),
        "end": round(float(end), 3),
        "word": text,
        "probability": round(float(probability), 4),
    }


def _words(words: Any) -> list[Word]:
    """faster-whisper's Word tuples as plain dicts."""
    return [_word(w.start, w.end, w.word, w.probability) for w in words or []]


def _no_speech(piece: Any) -> bool:
    """Whisper's rule for a window that holds no speech, which sequential decoding applies and
    faster-whisper's batched pipeline does not: such a chunk's text is dropped, and the voice in
    it is decoded again in shorter stretches (`uncovered`), or sequentially when it is all voice."""
    return bool(
        piece.no_speech_prob > NO_SPEECH_THRESHOLD and piece.avg_logprob < LOG_PROB_THRESHOLD
    )


def _repeats_itself(piece: Any) -> bool:
    """Whisper's compression rule, which sends a sequential window to the temperature fallback
    and which faster-whisper's batched pipeline does not apply: greedy text that loops ("266.0-0-
    0-..." in place of 27 s of speech on the tuning split). Such a chunk is decoded again in
    shorter stretches, side by side, or the sequential way (which falls back to sampling) when
    it holds one stretch only."""
    return bool(piece.compression_ratio > COMPRESSION_RATIO_THRESHOLD)


Detected = tuple[str, float]  # a language and its probability


def needs_refining(found: list[Detected], index: int, below: float) -> bool:
    """Whether chunk `index` is detected again in shorter stretches: when it was detected with
    less than `below`, or its language differs from a neighbour's (the change may lie inside)."""
    language, probability = found[index]
    around = found[max(0, index - 1) : index] + found[index + 1 : index + 2]
    return probability < below or any(other != language for other, _ in around)


def strays(read: dict[Span, Detected], language: str, bar: float) -> bool:
    """Whether a chunk detected in `language`, cut into more than one stretch, has a stretch
    `read` in another language with at least `bar`: the sign of an insert of 10-13 s, which
    leaves the detection of its 30 s chunk as sure as ever (0.98 in Japanese around English)."""
    return len(read) > 1 and any(
        found != language and probability >= bar for found, probability in read.values()
    )


def _most_likely(ranked: list[tuple[str, float]]) -> Detected:
    token, probability = ranked[0]  # ranked as "<|en|>", probability: most likely first
    return token[2:-2], float(probability)


def _agrees(found: Detected, sure: Detected) -> bool:
    """Whether `found` is in `sure`'s language with at least its probability."""
    return found[0] == sure[0] and found[1] >= sure[1]


def starts_run(stretches: list[tuple[Span, Detected]], index: int) -> bool:
    """Whether stretch `index`, detected in another language than the run before it, starts a
    run in its language: when detected with at least `SWITCH_PROBABILITY`, and confirmed by the
    next stretch's language or sure on its own (`CONFIDENT_SWITCH`). One stray stretch (French
    detected as Thai with 0.62) would otherwise carry its language over the unsure ones after it.
    """
    language, probability = stretches[index][1]
    following = stretches[index + 1][1][0] if index + 1 < len(stretches) else None
    confirmed = following == language or probability >= CONFIDENT_SWITCH
    return probability >= SWITCH_PROBABILITY and confirmed


def runs_of(stretches: list[tuple[Span, Detected]], total: float) -> list[LanguageRun]:
    """Neighbouring stretches in one language joined into runs that cover 0 to `total` seconds;
    a stretch that does not start a run (`starts_run`) keeps the language before it."""
    runs: list[LanguageRun] = []
    for index, ((_, end), (language, probability)) in enumerate(stretches):
        if runs and language != runs[-1].language and not starts_run(stretches, index):
            language = runs[-1].language
        if runs and runs[-1].language == language:
            last = runs[-1]
            runs[-1] = replace(last, end=end, probability=min(last.probability, probability))
        else:
            runs.append(LanguageRun(runs[-1].end if runs else 0.0, end, language, probability))
    runs[-1] = replace(runs[-1], end=total)
    return runs


def _middle(word: Word) -> float:
    return (float(word["start"]) + float(word["end"])) / 2


def _segment(index: int, start: float, end: float, text: str, words: Any) -> Segment:
    segment: Segment = {"id": index, "start": round(start, 3), "end": round(end, 3), "text": text}
    if words is not None:
        segment["words"] = words
    return segment


T = TypeVar("T")


def on_helper_thread(build: Callable[[], T]) -> T:
    """Run `build` on a short-lived thread and return its result (or raise its error).

    A CTranslate2 model created on the main thread decodes 1.4-2x slower on CPU than one
    created on another thread (measured by bench/thread_probe.py on the 2-core benchmark
    machine; the cause is not known). The server's loader thread always avoided this; creating
    the model here gives every caller the fast path.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ctranslate2-loader") as pool:
        return pool.submit(build).result()


class FasterWhisperEngine:
    """faster-whisper (CTranslate2): the default engine."""

    name = "faster"

    def __init__(
        self,
        model_dir: Path,
        model_name: str,
        device: str,
        compute_type: str,
        cpu_threads: int = 0,
        cpu_encoder: str = bfloat16_encoder.CTRANSLATE2,
        max_batch_size: int = 0,  # 0: the device's limit (BATCH_LIMITS)
    ) -> None:
        from faster_whisper import BatchedInferencePipeline

        from whisper_async.serving.detection_reuse import DetectionReusingModel

        self.model_name = model_name
        self.device = device
        self.compute_type = compute_type
        self.model = on_helper_thread(
            lambda: DetectionReusingModel(
                str(model_dir), device=device, compute_type=compute_type, cpu_threads=cpu_threads
            )
        )
        self.multilingual = bool(self.model.model.is_multilingual)
        # Opt-in, on CPU: torch's bfloat16 encoder, ~3x CTranslate2's int8 where the CPU has AMX
        # (serving/bfloat16_encoder.py); the held-out split refused it as the default. It
        # replaces the encoder whatever WASYNC_COMPUTE_TYPE says; the decoder keeps that type.
        self.encoder_backend = bfloat16_encoder.CTRANSLATE2
        backend = bfloat16_encoder.chosen_backend({bfloat16_encoder.SETTING: cpu_encoder}, device)
        if backend == bfloat16_encoder.TORCH_BFLOAT16:
            self.model.encoder = bfloat16_encoder.load_encoder(model_dir / "model.bin", cpu_threads)
            if self.model.encoder is not None:
                self.encoder_backend = backend
        encoding = "torch bfloat16" if self.model.encoder else f"CTranslate2 {compute_type}"
        log.info(
            "faster engine on %s: encoder %s, decoder CTranslate2 %s",
            device,
            encoding,
            compute_type,
        )
        # The batched path by default, for audio over one window: on the held-out split it loses
        # fewer phrases that the article's setup keeps than sequential windows (issue 18,
        # docs/benchmarks.md). Its chunks do not depend on the batch size (its text only by
        # rounding); on a CPU a batch of 2 is the fastest, on a GPU a larger batch is the point.
        self.default_batch_size = 8 if device == "cuda" else 2
        self.max_batch_size = max_batch_size or BATCH_LIMITS.get(device, BATCH_LIMITS["cpu"])
        self.chunking = ChunkRules()
        # With `language` left to detection, a multilingual model detects it in stretches of
        # speech and decodes each run of one language on its own: faster-whisper detects once
        # per file and decodes a file whose language changes in its first language (issue 18).
        self.detect_each_chunk = self.multilingual
        # Detected in stretches of up to 10 s of speech (each cut in silence), so a 30 s chunk
        # holding two languages is not decoded in one (tuning split: docs/serving.md).
        self.detection_seconds = 10.0
        # ... but only inside a 30 s chunk whose own detection is below this probability or
        # differs from a neighbour's: a file in one language then costs one detection per 30 s,
        # not three. None detects every stretch.
        self.refine_below: float | None = 0.9
        # A stretch's language is read from its part of its chunk's encoder output, a decoder
        # step, instead of an encoder pass of its own (docs/serving.md). False: a pass each.
        self.stretches_from_chunk = True
        # A chunk detected surely is cut into its stretches too when one of them, read from its
        # encoder output, is in another language with at least this: an insert of 10-13 s does
        # not move a 30 s chunk's detection (docs/serving.md). None: such chunks are not read.
        self.stray_above: float | None = 0.3
        # What is encoded for detection is given 10 s of padding after its speech, not padded
        # to 30 s: a 10 s stretch then costs a third of a whole window, with the same runs found
        # on both splits (docs/serving.md). None: whole windows.
        self.detection_tail_frames: int | None = DETECTION_TAIL_FRAMES
        # Sequential decoding of audio over one window is checked against its voice regions
        # (`_sequential`): text stamped over silence is dropped, voice left without text is
        # decoded again (docs/serving.md). False turns both off, for bench/tune.py to compare.
        self.decode_unheard = True
        self.batched = BatchedInferencePipeline(model=self.model)

    def transcribe(self, audio: Any, options: TranscribeOptions) -> Transcription:
        check_options(self, options)
        with self.model.request():  # detection's encoder passes, kept for decoding
            return self._transcribe(audio, options)

    def _transcribe(self, audio: Any, options: TranscribeOptions) -> Transcription:
        detect = options.language is None and self.detect_each_chunk
        # One VAD pass over audio longer than a window serves the language runs, the batched
        # chunks, and the second pass over speech that sequential decoding skipped.
        regions, chunks = self.speech_plan(audio)
        # Over one window, no regions means the VAD heard no voice, not that none was looked for.
        long = len(audio) > self.chunking.max_seconds * SAMPLE_RATE
        voiced = regions if self.decode_unheard and long else None
        if detect and regions:
            runs = self.language_runs(audio, regions)
            if len(runs) > 1:
                return self._by_language(audio, runs, regions, options)
            language = options.with_values({"language": runs[0].language})
            found = self._decode(audio, language, (regions, chunks), voiced=voiced)
            return replace(found, language_probability=runs[0].probability)
        return self._decode(audio, options, (regions, chunks), voiced=voiced)

    def _decode(
        self,
        audio: Any,
        options: TranscribeOptions,
        speech: tuple[list[Span], list[Span]] | None = None,
        voiced: list[Span] | None = None,
    ) -> Transcription:
        """Decode in one language (given, or detected once by faster-whisper); `speech` is the
        audio's batch plan when it is already known, `voiced` its voice regions when sequential
        decoding should be guided by them (`_sequential`)."""
        kwargs: dict[str, Any] = {
            "language": options.language,
            "task": options.task,
            "beam_size": options.beam_size,
            "initial_prompt": options.initial_prompt,
        }
        batch_size = options.batch_size or self.default_batch_size
        regions, chunks = ([], []) if batch_size <= 1 else speech or self.speech_plan(audio)
        if chunks:
            language, probability, words = self._batched(audio, regions, chunks, batch_size, kwargs)
            pieces = cue_pieces([(words[0]["start"], words[-1]["end"], "", words)] if words else [])
        else:
            batch_size = 1
            language, probability, pieces = self._sequential(audio, options, kwargs, voiced)
        segments = [
            _segment(index, start, end, text, words if options.word_timestamps else None)
            for index, (start, end, text, words) in enumerate(pieces)
        ]
        return Transcription(language, float(probability), segments, batch_size)

    def _sequential(
        self,
        audio: Any,
        options: TranscribeOptions,
        kwargs: dict[str, Any],
        voiced: list[Span] | None,
    ) -> tuple[str, float, list[Piece]]:
        """Sequential windows (timestamps, temperature fallback). Given the `voiced` regions, the
        regions no decoded segment covers (`unheard`) are decoded once more, on their own and
        with Whisper's no-speech rule off: Whisper judges whole windows of speech in a language
        it knows badly to hold none (no-speech probability 0.76), and sequential decoding then
        skips them; a stranger's trial lost Portuguese, Dutch and Polish sections so."""

        def decode(extra: dict[str, Any]) -> tuple[Any, list[Piece]]:
            found, info = self.model.transcribe(
                audio,
                vad_filter=options.vad_filter,
                word_timestamps=options.word_timestamps,
                **kwargs,
                **extra,
            )
            return info, [(p.start, p.end, p.text, _words(p.words)) for p in found]

        seconds = len(audio) / SAMPLE_RATE
        if (
            voiced == []
            and not options.vad_filter
            and holds_no_voice(audio, (0, seconds), self.chunking)
        ):
            # Not even faint voice: the filter below would drop every piece, and decoding noise
            # runs each window through every temperature (2 min of quiet hiss took 58 s).
            return options.language or "en", 0.0, []
        info, pieces = decode(token_budget(seconds))
        one_window = voiced is None and seconds <= self.chunking.max_seconds
        if one_window and not options.vad_filter:
            rules = self.chunking
            if not pieces:
                # Judged silent by Whisper's no-speech rule (0.74, and greedy text it was unsure
                # of) though the VAD hears speech: a stranger's 15 s of clear speech came back
                # as an empty transcript marked done. Decoded again with the rule off, greedily:
                # the fallback's sampling can loop ("High-endee, High-endee, ...").
                if overlap((0, seconds), speech_regions(audio, rules)) >= rules.min_uncovered_s:
                    again = {"no_speech_threshold": None, "temperature": 0.0}
                    info, pieces = decode({**token_budget(seconds), **again})
            elif sum(len(p[2].split()) for p in pieces) <= FEW_WORDS and holds_no_voice(
                audio, (0, seconds), rules
            ):
                pieces = []  # " you" or "Thank you." over a silent clip: no speech
        if voiced is not None and not options.vad_filter:
            # Text over silence is dropped first: if it was real speech stamped at the wrong
            # time, its voice is then unheard and is decoded again below.
            rules = self.chunking
            pieces = [p for p in pieces if stands_on_voice(audio, (p[0], p[1]), voiced, rules)]
            missed = unheard(voiced, [(a, b) for a, b, _, _ in pieces], rules)
            if missed:
                alone = {
                    "clip_timestamps": [seconds for span in missed for seconds in span],
                    "condition_on_previous_text": False,
                    "no_speech_threshold": None,
                }
                pieces += decode(alone)[1]
                pieces.sort(key=lambda piece: piece[0])
        return info.language, info.language_probability, pieces

    def language_runs(self, audio: Any, regions: list[Span]) -> list[LanguageRun]:
        """Contiguous stretches of one detected language, covering the audio, from one detection
        per `detection_seconds` of its voice `regions` (cut in silence) wherever the language may
        change (`detected_stretches`). Called for audio longer than one window: in one window,
        faster-whisper's own detection is as good, but over a longer file it detects from the
        first 30 s only, which may be silence."""
        return runs_of(self.detected_stretches(audio, regions), len(audio) / SAMPLE_RATE)

    def detected_stretches(self, audio: Any, regions: list[Span]) -> list[tuple[Span, Detected]]:
        """The audio cut in silence into stretches, in order, each with its detected language.

        30 s chunks first; a chunk whose detection is unsure, or differs from a neighbour's, or
        has a stretch read in another language (`strays`), is detected again in stretches of
        `detection_seconds`, since it may hold two languages. A voice region longer than that is
        cut at its quiet places first (`split_long`). Chunks are encoded a batch at a time, and
        a chunk's encoder output is held only until the chunk after it is detected, so memory
        stays flat however long the audio."""
        total = len(audio) / SAMPLE_RATE
        sure = self.refine_below
        fine = split_long(audio, regions, self.detection_seconds)
        if sure is None:
            return self._each_encoded(audio, group_regions(fine, total, self.detection_seconds))
        chunks = group_regions(regions, total)
        found: list[Detected] = []
        waiting: dict[int, Any] = {}  # encoder outputs of chunks whose next chunk is not detected
        detected: list[tuple[Span, Detected]] = []
        for first in range(0, len(chunks), DETECTION_BATCH):
            for chunk_found, output in self._detect(audio, chunks[first : first + DETECTION_BATCH]):
                waiting[len(found)] = output
                found.append(chunk_found)
            settled = len(found) if len(found) == len(chunks) else len(found) - 1
            for index in [index for index in waiting if index < settled]:
                output = waiting.pop(index)
                chunk, language = chunks[index], found[index][0]
                stretches = within(audio, chunk, fine, self.detection_seconds)
                refine = needs_refining(found, index, sure)
                read: dict[Span, Detected] = {}
                bar = self.stray_above if len(stretches) > 1 else None  # one stretch cannot stray
                if self.stretches_from_chunk and (refine or bar is not None):
                    read = {s: self._read_from_chunk(output, chunk, s) for s in stretches}
                    refine = refine or (bar is not None and strays(read, language, bar))
                if refine:
                    sure_of = (language, sure)  # a stretch as sure as a chunk left alone
                    detected += self._stretch_languages(audio, stretches, sure_of, read)
                else:
                    detected.append((chunk, found[index]))
        return detected

    def _stretch_languages(
        self, audio: Any, stretches: list[Span], sure: Detected, read: dict[Span, Detected]
    ) -> list[tuple[Span, Detected]]:
        """Each of a chunk's `stretches` with its language. A stretch `read` from its part of the
        chunk's encoder output (a decoder step) in `sure`'s language (the chunk's) with at least
        its probability (`refine_below`, what a chunk needs to be left alone) keeps that reading.
        The rest get an encoder pass of their own, since a stretch read inside its chunk leans to
        the chunk's language (10 s of German inside English read 0.46, alone 0.88)."""
        doubtful = [s for s in stretches if s not in read or not _agrees(read[s], sure)]
        read.update(self._each_encoded(audio, doubtful))
        return [(s, read[s]) for s in stretches]

    def _read_from_chunk(self, output: Any, chunk: Span, stretch: Span) -> Detected:
        """The language of `stretch` from its positions in `chunk`'s encoder output."""
        import ctranslate2
        import numpy as np

        first = min(int((stretch[0] - chunk[0]) * ENCODER_POSITIONS), len(output) - 1)
        last = math.ceil((stretch[1] - chunk[0]) * ENCODER_POSITIONS)
        part = np.ascontiguousarray(output[None, first : max(first + 1, min(last, len(output)))])
        ranked = self.model.model.detect_language(ctranslate2.StorageView.from_array(part))
        return _most_likely(ranked[0])

    def _each_encoded(self, audio: Any, spans: list[Span]) -> list[tuple[Span, Detected]]:
        """Each span with its language, from an encoder pass of its own (batched)."""
        found: list[tuple[Span, Detected]] = []
        for first in range(0, len(spans), DETECTION_BATCH):
            batch = spans[first : first + DETECTION_BATCH]
            found += [(s, d) for s, (d, _) in zip(batch, self._detect(audio, batch), strict=True)]
        return found

    def _detect(self, audio: Any, spans: list[Span]) -> list[tuple[Detected, Any]]:
        """Each span's most likely language, with its probability, and its encoder output (on the
        CPU, as an array): spans of up to 30 s, encoded together with `detection_tail_frames` of
        padding after their speech."""
        import ctranslate2
        import numpy as np
        from faster_whisper.audio import pad_or_trim

        from whisper_async.serving.encoder_input import trimmed

        features = np.stack(
            [
                pad_or_trim(
                    self.model.feature_extractor(
                        audio[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)]
                    )[..., :-1]
                )
                for start, end in spans
            ]
        )
        given = trimmed(features, self.detection_tail_frames)
        encoded = self.model.encode_as_given(given)
        if given.shape == features.shape:  # whole windows: decoding may encode the same
            self.model.keep(features, encoded)
        found = [_most_likely(ranked) for ranked in self.model.model.detect_language(encoded)]
        on_cpu = encoded if encoded.device == "cpu" else encoded.to_device(ctranslate2.Device.cpu)
        return list(zip(found, np.asarray(on_cpu), strict=True))

    def _by_language(
        self,
        audio: Any,
        runs: list[LanguageRun],
        regions: list[Span],
        options: TranscribeOptions,
    ) -> Transcription:
        """Each run decoded in its own language, on its own: conditioned on the text before it,
        Whisper copies that text, in the other language, instead of transcribing. Sequential
        decoding is guided by the run's voice regions (`_sequential`)."""
        segments: list[Segment] = []
        batch_sizes: list[int] = []
        spoken: dict[str, float] = {}  # seconds of voice, not of run: pauses do not count
        for index, run in enumerate(runs):
            values: dict[str, Any] = {"language": run.language}
            if index:
                values["initial_prompt"] = None
            piece = audio[int(run.start * SAMPLE_RATE) : int(run.end * SAMPLE_RATE)]
            voiced = regions_in(regions, (run.start, run.end))
            voice = sum(end - start for start, end in voiced)
            spoken[run.language] = spoken.get(run.language, 0.0) + voice
            guide = voiced if self.decode_unheard else None
            part = self._decode(piece, options.with_values(values), voiced=guide)
            for segment in part.segments:
                segments.append(shifted_segment(segment, run.start, run.end, len(segments)))
            batch_sizes.append(part.batch_size)
        # The file's language is the one spoken longest, not the first: five seconds of English
        # before two minutes of Spanish is a Spanish recording.
        main = next(run for run in runs if run.language == max(spoken, key=spoken.__getitem__))
        return Transcription(main.language, main.probability, segments, max(batch_sizes))

    def speech_plan(self, audio: Any) -> tuple[list[Span], list[Span]]:
        """(voice regions, chunks) of audio longer than one window; chunks only where the batched
        path has something to batch (more than one). Audio that fits one window gets neither: no
        VAD, no word timings for a short file."""
        if len(audio) <= self.chunking.max_seconds * SAMPLE_RATE:
            return [], []
        regions, chunks = plan(audio, self.chunking)
        return regions, chunks if len(chunks) > 1 else []

    def _batched(
        self,
        audio: Any,
        regions: list[Span],
        chunks: list[Span],
        batch_size: int,
        kwargs: dict[str, Any],
    ) -> tuple[str, float, list[Word]]:
        """Decode chunks side by side without timestamp tokens (the batched pipeline drops text
        after a chunk's last timestamp), with word timings; then decode again, side by side, the
        speech each chunk's text left out (chunks.py says why), until none is left."""
        words: list[Word] = []
        language, probability = kwargs["language"], 1.0
        duration = len(audio) / SAMPLE_RATE
        for passes_left in reversed(range(self.chunking.max_passes)):
            # Spans are rounded to the millisecond; one rounded past the end of the audio makes
            # faster-whisper assert (its VAD log line sees a negative duration removed).
            clips = [{"start": start, "end": min(end, duration)} for start, end in chunks]
            found, info = self.batched.transcribe(
                audio, batch_size=batch_size, clip_timestamps=clips, word_timestamps=True, **kwargs
            )
            if kwargs["language"] is None:  # later passes skip the whole-file detection
                kwargs = {**kwargs, "language": info.language}
                language, probability = info.language, info.language_probability
            # One piece per clip; its `seek` is the clip's start in 10 ms frames, rounded down.
            by_frame = {piece.seek: piece for piece in found}
            left: list[Span] = []
            for chunk in chunks:
                frame = int(chunk[0] * 100)
                near = [by_frame[f] for f in (frame, frame - 1, frame + 1) if f in by_frame]
                if near and _repeats_itself(near[0]):
                    shorter = within(audio, chunk, regions, self.chunking.loop_stretch_s)
                    if len(shorter) > 1 and passes_left:
                        left += shorter  # greedy loops less over less audio, and it is batched
                    else:
                        words += self._sequential_words(audio, chunk, kwargs)
                    continue
                decoded = [] if not near or _no_speech(near[0]) else _words(near[0].words)
                words += decoded
                spans = [(w["start"], w["end"]) for w in decoded]
                for stretch in uncovered(chunk, spans, regions, self.chunking):
                    if stretch == chunk:  # nothing decoded at all: once more would say the same
                        words += self._sequential_words(audio, stretch, kwargs)
                    else:
                        left.append(stretch)
            if not left or not passes_left:  # the last pass's leftovers keep their words
                break
            # A stretch decoded again replaces the words an earlier pass put there.
            words = [w for w in words if not any(a <= _middle(w) < b for a, b in left)]
            chunks = left
        words += self._faint(audio, regions, words, batch_size, kwargs)
        words.sort(key=lambda w: w["start"])
        twice = echoes(audio, words, regions, self.chunking)
        kept = [w for i, w in enumerate(words) if i not in twice]
        return str(language), float(probability), fit_to_voice(kept, regions)

    def _faint(
        self,
        audio: Any,
        regions: list[Span],
        words: list[Word],
        batch_size: int,
        kwargs: dict[str, Any],
    ) -> list[Word]:
        """Words of the faint voice (whispered speech) that no region and no word covers: one
        more batched pass over it, each stretch's words kept where no word was."""
        if not self.chunking.decode_faint:
            return []
        spans = [(w["start"], w["end"]) for w in words]
        stretches = unheard_faint(audio, regions, spans, self.chunking)
        if not stretches:
            return []
        duration = len(audio) / SAMPLE_RATE
        clips = [{"start": a, "end": min(b, duration)} for a, b in stretches]
        found, _ = self.batched.transcribe(
            audio, batch_size=batch_size, clip_timestamps=clips, word_timestamps=True, **kwargs
        )
        heard: list[Word] = []
        for piece in found:
            if _no_speech(piece) or _repeats_itself(piece):
                continue
            heard += [
                w for w in _words(piece.words) if not any(a <= _middle(w) < b for a, b in spans)
            ]
        return heard

    def _sequential_words(self, audio: Any, span: Span, kwargs: dict[str, Any]) -> list[Word]:
        """One stretch of voice decoded the sequential way (timestamps, temperature fallback),
        with Whisper's no-speech rule off, as in the sequential path's second pass: the VAD hears
        voice there, and greedy decoding of fast speech judged 30 s of it silent (0.78)."""
        start = int(span[0] * SAMPLE_RATE)
        found, _ = self.model.transcribe(
            audio[start : int(span[1] * SAMPLE_RATE)],
            word_timestamps=True,
            no_speech_threshold=None,
            **kwargs,
        )
        return [
            _word(w.start + span[0], w.end + span[0], w.word, w.probability)
            for piece in found
            for w in piece.words or []
        ]


class OpenAIWhisperEngine:
    """openai-whisper (torch), the reference implementation."""

    name = "openai"

    def __init__(self, checkpoint: Path, model_name: str, device: str, fp16: bool) -> None:
        import whisper

        self.model_name = model_name
        self.device = device
        self.fp16 = fp16
        self.max_batch_size = UNBATCHED
        self.model = whisper.load_model(str(checkpoint), device=device)
        self.multilingual = bool(self.model.is_multilingual)

    def transcribe(self, audio: Any, options: TranscribeOptions) -> Transcription:
        check_options(self, options)
        if options.vad_filter or (options.batch_size or 1) > 1:
            raise OptionError(
                "vad_filter and batch_size above 1 need the faster engine; this endpoint runs openai-whisper"
            )
        language, probability = options.language, 1.0
        if language is None:
            language, probability = self._detect_language(audio)
        result = self.model.transcribe(
            audio,
            language=language,
            task=options.task,
            beam_size=options.beam_size if options.beam_size > 1 else None,
            word_timestamps=options.word_timestamps,
            initial_prompt=options.initial_prompt,
            fp16=self.fp16,
            verbose=None,
        )
        segments = []
        for index, piece in enumerate(result["segments"]):
            words = None
            if options.word_timestamps:
                words = [
                    _word(w["start"], w["end"], w["word"], w["probability"])
                    for w in piece.get("words", [])
                ]
            segments.append(
                _segment(index, float(piece["start"]), float(piece["end"]), piece["text"], words)
            )
        return Transcription(language, probability, segments)

    def _detect_language(self, audio: Any) -> tuple[str, float]:
        if not self.multilingual:
            return "en", 1.0
        import whisper

        mel = whisper.log_mel_spectrogram(
            whisper.pad_or_trim(audio), n_mels=self.model.dims.n_mels
        ).to(self.model.device)
        _, probabilities = self.model.detect_language(mel)
        language = max(probabilities, key=probabilities.get)
        return str(language), float(probabilities[language])


def _cuda_devices(engine: str) -> int:
    try:
        if engine == "openai":
            import torch

            return int(torch.cuda.device_count())
        import ctranslate2

        return int(ctranslate2.get_cuda_device_count())
    except Exception:
        return 0


# Speech comes to at most about 8 tokens a second (fast speech, with its timestamps). A short
# clip's decode may take 25 a second and 10 more: a tone or noise that sets the decoder looping
# then stops there, not at 448 tokens for each of the six fallback temperatures (a 1 s tone
# took 34 s). Only up to 8 s, so that the budget plus the longest prompt Whisper keeps (223
# tokens) stays within the model's 448.
TOKENS_PER_SECOND = 25
BUDGETED_SECONDS = 8.0


def token_budget(seconds: float) -> dict[str, int]:
    """faster-whisper's max_new_tokens for a clip this long; none past BUDGETED_SECONDS."""
    if seconds > BUDGETED_SECONDS:
        return {}
    return {"max_new_tokens": 10 + math.ceil(TOKENS_PER_SECOND * seconds)}


def load_engine(model_dir: Path, environ: Mapping[str, str] = os.environ) -> Engine:
    """Load the engine that the model directory calls for, on the best device there is."""
    layout = detect_layout(model_dir)
    if layout.engine == "standin":  # tests only: named by a test manifest, never detected
        from .standin import load_standin

        return load_standin(layout.weights, layout.name)
    device = environ.get("WASYNC_DEVICE") or ("cuda" if _cuda_devices(layout.engine) else "cpu")
    cpu_encoder = bfloat16_encoder.setting_value(environ)  # checked for every engine
    compute_type = environ.get("WASYNC_COMPUTE_TYPE")
    if layout.engine == "openai":
        fp16 = device == "cuda" and compute_type not in {"float32", "fp32"}
        # a .pt pushed to a server installed without torch (the local stack's venv)
        with needs_extra("openai", f"the model {layout.name} (a .pt checkpoint)", FASTER_INSTEAD):
            return OpenAIWhisperEngine(layout.weights, layout.name, device, fp16)
    default_type = "float16" if device == "cuda" else "int8"
    return FasterWhisperEngine(
        layout.weights,
        layout.name,
        device,
        compute_type or default_type,
        cpu_threads(environ),
        cpu_encoder,
        batch_limit(environ, device),
    )


def cpu_threads(environ: Mapping[str, str]) -> int:
    """CPU threads per transcription: the cores this process may use, shared between the
    transcriptions allowed to run at once (CTranslate2's own default ignores both)."""
    if environ.get("WASYNC_CPU_THREADS"):
        return int(environ["WASYNC_CPU_THREADS"])
    cores = (
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    )
    return max(1, cores // max(1, int(environ.get("WASYNC_MAX_CONCURRENCY") or 1)))


def default_concurrency(engine_name: str) -> int:
    """One transcription at a time per GPU, and one on CPU."""
    return max(1, _cuda_devices(engine_name))
