"""Where a multilingual model detects the language again: chunks, stretches and runs."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from tests.helpers.engines import encoder_passes, engine_settings
from whisper_async.serving.audio import decode_audio
from whisper_async.serving.chunks import (
    ChunkRules,
    group_regions,
    split_long,
    unheard,
    within,
)
from whisper_async.serving.engines import (
    FasterWhisperEngine,
    LanguageRun,
    needs_refining,
    runs_of,
)


def test_only_unsure_chunks_and_chunks_next_to_a_change_are_detected_again() -> None:
    found = [("en", 0.99), ("en", 0.95), ("en", 0.6), ("en", 0.97), ("ja", 0.98), ("ja", 0.99)]
    assert [i for i in range(len(found)) if needs_refining(found, i, 0.9)] == [2, 3, 4]
    assert not needs_refining([("en", 0.99)], 0, 0.9)
    assert needs_refining([("en", 0.5)], 0, 0.9)


def test_a_chunk_is_cut_into_stretches_that_cover_it() -> None:
    regions = [(1.0, 4.0), (5.0, 9.0), (10.0, 14.0), (15.0, 19.0), (21.0, 29.0), (31.0, 35.0)]
    silence = np.zeros(40 * 16000, dtype=np.float32)  # no region to cut: never read
    stretches = within(silence, (0.5, 30.0), regions, 10.0)
    assert stretches[-1][1] == 30.0
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(stretches))
    for start, end in regions[:5]:  # each region inside the chunk lies in one stretch
        assert any(a <= start and end <= b for a, b in stretches)
    assert all(end - start <= 10.0 for start, end in stretches)
    assert len(stretches) == 3  # the speech at 1-9, 10-19 and 21-29, cut in the silences
    assert within(silence, (40.0, 50.0), regions, 10.0) == [
        (40.0, 50.0)
    ]  # no speech: the chunk itself


def test_a_voice_region_longer_than_a_stretch_is_cut_at_its_quiet_places() -> None:
    # 30 s of noise with two 100 ms dips: pauses too short for the VAD to end a region at.
    audio = (0.3 * np.random.default_rng(0).standard_normal(30 * 16000)).astype(np.float32)
    dips = [7.9, 15.6]
    for at in dips:
        audio[int(at * 16000) : int((at + 0.1) * 16000)] *= 0.01
    parts = split_long(audio, [(0.5, 23.3), (25.0, 29.0)], 10.0)
    assert parts[0][0] == 0.5 and parts[-2][1] == 23.3 and parts[-1] == (25.0, 29.0)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(parts[:-1]))
    assert all(end - start <= 10.0 for start, end in parts)
    assert len(parts) == 4
    for (_, cut), at in zip(parts, dips, strict=False):
        assert at <= cut <= at + 0.1
    # So the region's start is decoded too: grouped whole, only its last 10 s would be (a
    # looping chunk's first 2.2 s of speech were lost so).
    assert within(audio, (0.0, 30.0), [(0.5, 23.3)], 10.0)[0][0] <= 0.5
    assert within(audio, (0.0, 30.0), parts, 10.0)[0][0] <= 0.5
    assert split_long(audio, [(0.5, 10.5)], 10.0) == [(0.5, 10.5)]


def test_speech_that_nothing_decoded_covers_is_found_and_joined_up_to_long_pauses() -> None:
    rules = ChunkRules(long_pause_s=5.0, clip_margin_s=0.5)
    regions = [(1.0, 5.0), (6.0, 10.0), (11.0, 11.2), (12.0, 20.0), (30.0, 40.0), (41.0, 44.0)]
    heard = [(0.8, 5.1), (40.5, 44.2)]  # the first and last regions' text
    # 6-20 s joined (the 0.2 s blip between does not break it), 30-40 s apart after 10 s of
    # pause; what was heard is not decoded again.
    assert unheard(regions, heard, rules) == [(5.5, 20.5), (29.5, 40.5)]
    assert unheard(regions, [(0.0, 44.0)], rules) == []


def test_runs_join_one_language_and_an_unsure_stretch_does_not_switch() -> None:
    stretches = [
        ((0.0, 10.0), ("en", 0.95)),
        ((10.0, 20.0), ("fi", 0.3)),  # unsure: stays English
        ((20.0, 30.0), ("en", 0.8)),
        ((30.0, 40.0), ("de", 0.9)),
        ((40.0, 50.0), ("de", 0.7)),
    ]
    assert runs_of(stretches, 52.5) == [
        LanguageRun(0.0, 30.0, "en", 0.3),
        LanguageRun(30.0, 52.5, "de", 0.7),
    ]
    # The first stretch has nothing before it to keep, so its own language stands.
    assert [run.language for run in runs_of([((0.0, 9.0), ("it", 0.4))], 9.0)] == ["it"]


def test_a_stray_stretch_does_not_start_a_run_that_the_next_one_does_not_confirm() -> None:
    # The shape a stranger's telephone-band trial found: French, Portuguese and Dutch that the
    # model barely knows, one stretch of it detected as Thai with more than half the probability.
    stretches = [
        ((0.0, 10.0), ("it", 0.91)),
        ((10.0, 16.0), ("en", 0.47)),
        ((16.0, 22.0), ("th", 0.66)),  # stray: the next stretch is not Thai
        ((22.0, 32.0), ("en", 0.26)),
        ((32.0, 38.0), ("nn", 0.17)),
    ]
    assert [run.language for run in runs_of(stretches, 38.0)] == ["it"]
    # Confirmed by the next stretch, even an unsure one, the change stands ...
    confirmed = [
        ((0.0, 10.0), ("en", 0.9)),
        ((10.0, 20.0), ("de", 0.6)),
        ((20.0, 25.0), ("de", 0.3)),
    ]
    assert [(r.start, r.language) for r in runs_of(confirmed, 25.0)] == [(0.0, "en"), (10.0, "de")]
    # ... and a stretch sure on its own needs no confirmation, even the last one.
    for probability, languages in ((0.75, ["en", "de"]), (0.65, ["en"])):
        last = [((0.0, 10.0), ("en", 0.9)), ((10.0, 20.0), ("de", probability))]
        assert [run.language for run in runs_of(last, 20.0)] == languages


def english_german_and_a_gap(data_dir: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """31 s of English, 5.1 s of German and 1 s of silence, to join into test files."""
    english = decode_audio(data_dir / "en_30s.wav")
    german = decode_audio(data_dir / "de_short.wav")
    return english, german, np.zeros(16000, dtype=np.float32)


def german_inside_english(data_dir: Path) -> np.ndarray:
    """30 s of English, 1 s pauses, two German clips (10 s of German), and the English again."""
    english, german, gap = english_german_and_a_gap(data_dir)
    return np.concatenate([english, gap, german, gap, german, gap, english])


def test_ten_seconds_of_german_inside_an_english_chunk_is_found(
    faster_base: FasterWhisperEngine, data_dir: Path
) -> None:
    audio = german_inside_english(data_dir)
    regions = faster_base.speech_plan(audio)[0]
    chunks = group_regions(regions, len(audio) / 16000)
    detected = faster_base.detected_stretches(audio, regions)
    # Every chunk here is unsure or next to a change, so all are detected again in stretches.
    assert len(detected) > len(chunks)
    assert all(end - start <= 10.0 for (start, end), _ in detected)
    runs = faster_base.language_runs(audio, regions)
    assert [run.language for run in runs] == ["en", "de", "en"]
    german_start = (len(decode_audio(data_dir / "en_30s.wav")) + 16000) / 16000
    assert runs[1].start <= german_start + 1.0 and runs[1].end >= german_start + 6.0


def test_stretches_are_encoded_with_their_speech_and_10_s_of_padding_not_30_s(
    faster_base: FasterWhisperEngine, data_dir: Path
) -> None:
    from whisper_async.serving.engines import DETECTION_TAIL_FRAMES

    audio = german_inside_english(data_dir)
    regions = faster_base.speech_plan(audio)[0]
    with encoder_passes(faster_base) as passes:
        runs = faster_base.language_runs(audio, regions)
    assert [run.language for run in runs] == ["en", "de", "en"]
    # whole 30 s chunks first, then the stretches of at most 10 s that their reading left in
    # doubt: 10 s of speech and padding
    assert passes[0] == (3, 3000) and len(passes) > 1
    assert all(frames <= 1000 + DETECTION_TAIL_FRAMES + 2 for _, frames in passes[1:])


def test_stretches_are_read_from_their_chunks_pass_across_batches_of_chunks(
    faster_base: FasterWhisperEngine, data_dir: Path
) -> None:
    # 3 min of English, then 36 s of German: more than 8 chunks, so the last English chunk is
    # the last of the first batch, and the German chunk after it is detected in the second.
    english, german, gap = english_german_and_a_gap(data_dir)
    audio = np.concatenate(
        [*[part for _ in range(6) for part in (english, gap)], *[german, gap] * 6]
    )
    regions = faster_base.speech_plan(audio)[0]
    chunks = group_regions(regions, len(audio) / 16000)
    assert len(chunks) > 8
    found, windows = {}, {}
    for from_chunk in (False, True):
        # this voice's English chunks are detected with 0.55-0.93: at 0.3 they are all sure,
        # and only the chunks on either side of the change are cut into stretches (sure chunks
        # are not read for inserts here, which needs readings: the test after this one)
        with (
            engine_settings(
                faster_base, stretches_from_chunk=from_chunk, refine_below=0.3, stray_above=None
            ),
            encoder_passes(faster_base) as passes,
        ):
            found[from_chunk] = faster_base.detected_stretches(audio, regions)
        windows[from_chunk] = sum(count for count, _ in passes)
        runs = runs_of(found[from_chunk], len(audio) / 16000)
        assert [run.language for run in runs] == ["en", "de"]
    spans = [span for span, _ in found[True]]
    assert spans == [span for span, _ in found[False]]
    # in order, each chunk once: whole, or cut into its stretches ...
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))
    inside = [[s for s in spans if chunk[0] <= s[0] and s[1] <= chunk[1]] for chunk in chunks]
    assert sum(map(len, inside)) == len(spans)
    cut = [index for index, stretches in enumerate(inside) if stretches != [chunks[index]]]
    fine = split_long(audio, regions, faster_base.detection_seconds)  # as detection cuts them
    for index in cut:
        assert inside[index] == within(audio, chunks[index], fine, faster_base.detection_seconds)
    # ... and the chunk before the change is cut, though its neighbour came in the next batch
    assert 7 in cut
    # a stretch read surely from its chunk gets no encoder pass of its own
    assert windows[True] < windows[False], windows


def test_an_insert_inside_chunks_detected_surely_is_found_by_reading_their_stretches(
    faster_base: FasterWhisperEngine, data_dir: Path
) -> None:
    english, german, gap = english_german_and_a_gap(data_dir)
    parts = [english, gap, english[: 20 * 16000], gap, german, gap, german, gap, english]
    audio = np.concatenate(parts)
    german_start = sum(map(len, parts[:4])) / 16000
    regions = faster_base.speech_plan(audio)[0]
    default = faster_base.stray_above
    runs = {}
    for bar in (None, default):
        # The chunk that holds the German is detected English with 0.69, the others with
        # 0.57-0.87: at 0.5 all are sure, and alike, so none would be looked into.
        with engine_settings(faster_base, stray_above=bar, refine_below=0.5):
            runs[bar] = faster_base.language_runs(audio, regions)
    assert [run.language for run in runs[None]] == ["en"]
    found = runs[default]
    assert [run.language for run in found] == ["en", "de", "en"]
    assert found[1].start <= german_start + 1.5 and found[1].end >= german_start + 6.0


def test_the_language_reported_is_the_one_spoken_longest(
    faster_base: FasterWhisperEngine, data_dir: Path
) -> None:
    from whisper_async.attributes import TranscribeOptions

    english = decode_audio(data_dir / "en_short.wav")  # 3.4 s
    german = decode_audio(data_dir / "de_short.wav")  # 5.1 s
    gap = np.zeros(16000, dtype=np.float32)
    audio = np.concatenate([english, gap, *[part for _ in range(7) for part in (german, gap)]])
    runs = faster_base.language_runs(audio, faster_base.speech_plan(audio)[0])
    assert runs[0].language == "en" and runs[-1].language == "de"
    result = faster_base.transcribe(audio, TranscribeOptions())
    assert result.language == "de"


def test_speech_after_a_silent_first_window_is_detected_from_the_speech(
    faster_base: FasterWhisperEngine, data_dir: Path
) -> None:
    from whisper_async.attributes import TranscribeOptions

    # 35 s of silence, then 5 s of German: all the speech fits one chunk, so there is nothing
    # to batch, but faster-whisper alone detects from the first 30 s, hears silence, says
    # English (0.36) and decodes the German as an English translation.
    german = decode_audio(data_dir / "de_short.wav")
    audio = np.concatenate([np.zeros(35 * 16000, np.float32), german])
    regions, chunks = faster_base.speech_plan(audio)
    assert regions and not chunks
    result = faster_base.transcribe(audio, TranscribeOptions())
    assert result.language == "de"
    assert "morgen" in result.text.lower(), result.text
