"""Both engines on real weights: accuracy, language detection, translation, and agreement."""

from __future__ import annotations

import itertools
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from bench.metrics import reference_text, word_error_rate
from tests.helpers.models import checkpoint_file
from whisper_async.attributes import TranscribeOptions
from whisper_async.errors import ConfigurationError
from whisper_async.serving.audio import decode_audio
from whisper_async.serving.engines import FasterWhisperEngine, load_engine, on_helper_thread

ENGLISH = ["en_short.wav", "en_numbers.wav", "en_30s.wav", "en_short.mp3"]
# Measured on these espeak clips: tiny.en int8 greedy scores 0.165 corpus WER after whisper's
# English normaliser, batched (the default) and sequential alike. The bound leaves room for
# CPU/library drift, and still fails on a broken decode, resampling or prompt (0.5 and above).
WER_BOUND = 0.25


def transcripts(engine, data_dir: Path, names: list[str], options: TranscribeOptions) -> list[str]:  # type: ignore[no-untyped-def]
    return [engine.transcribe(decode_audio(data_dir / n), options).text for n in names]


def test_faster_tiny_en_word_error_rate_is_within_bound(faster_tiny_en, data_dir: Path) -> None:
    hypotheses = transcripts(faster_tiny_en, data_dir, ENGLISH, TranscribeOptions())
    references = [reference_text(data_dir / n) for n in ENGLISH]
    assert word_error_rate(references, hypotheses) <= WER_BOUND


def test_decoder_yields_16k_mono_float32_from_wav_and_mp3(data_dir: Path) -> None:
    wav = decode_audio(data_dir / "en_short.wav")
    mp3 = decode_audio(data_dir / "en_short.mp3")
    assert wav.dtype.name == "float32" and wav.ndim == 1
    assert len(wav) / 16000 == pytest.approx(3.44, abs=0.01)
    assert abs(len(mp3) - len(wav)) < 16000 * 0.1
    assert 0.01 < float(abs(wav).max()) <= 1.0


def test_multilingual_base_detects_german(faster_base: FasterWhisperEngine, data_dir: Path) -> None:
    audio = decode_audio(data_dir / "de_short.wav")
    result = faster_base.transcribe(audio, TranscribeOptions())
    assert result.language == "de" and result.language_probability > 0.5
    assert "morgen" in result.text.lower()


def test_multilingual_base_translates_german_to_english(
    faster_base: FasterWhisperEngine, data_dir: Path
) -> None:
    result = faster_base.transcribe(
        decode_audio(data_dir / "de_short.wav"), TranscribeOptions(task="translate")
    )
    text = result.text.lower()
    assert "morgen" not in text and "wetter" not in text
    assert any(word in text for word in ("morning", "weather", "park"))


def test_openai_engine_on_the_same_weights_agrees_with_faster(
    faster_tiny_en, openai_tiny_en, data_dir: Path
) -> None:
    names = ["en_short.wav", "en_30s.wav"]
    sequential = TranscribeOptions(batch_size=1)
    fast = transcripts(faster_tiny_en, data_dir, names, sequential)
    reference = transcripts(openai_tiny_en, data_dir, names, sequential)
    # Same weights, same sequential greedy decoding: only int8 vs fp32 arithmetic differs.
    assert word_error_rate(reference, fast) <= 0.1
    assert (
        faster_tiny_en.transcribe(decode_audio(data_dir / names[0]), TranscribeOptions()).batch_size
        == 1
    )
    batched = transcripts(faster_tiny_en, data_dir, names, TranscribeOptions(batch_size=8))
    assert word_error_rate(reference, batched) <= 0.1
    assert word_error_rate([reference_text(data_dir / n) for n in names], reference) <= WER_BOUND


def test_openai_engine_refuses_faster_only_options(openai_tiny_en, data_dir: Path) -> None:
    from whisper_async.attributes import OptionError

    with pytest.raises(OptionError, match="faster engine"):
        openai_tiny_en.transcribe(
            decode_audio(data_dir / "en_short.wav"), TranscribeOptions(vad_filter=True)
        )


def test_batched_pipeline_transcribes(faster_tiny_en, data_dir: Path) -> None:
    result = faster_tiny_en.transcribe(
        decode_audio(data_dir / "en_30s.wav"), TranscribeOptions(batch_size=4)
    )
    assert word_error_rate([reference_text(data_dir / "en_30s.wav")], [result.text]) <= 0.3


def test_batched_output_comes_in_timed_sentence_cues(faster_tiny_en, data_dir: Path) -> None:
    audio = decode_audio(data_dir / "en_30s.wav")
    plain = faster_tiny_en.transcribe(audio, TranscribeOptions(batch_size=8))
    # One 31 s voice chunk, re-cut by word timings: several cues, none over 8 s, in order.
    assert len(plain.segments) >= 4
    assert all("words" not in s for s in plain.segments)
    assert all(0 < s["end"] - s["start"] <= 8.0 for s in plain.segments)
    assert all(a["end"] <= b["start"] for a, b in itertools.pairwise(plain.segments))
    assert [s["id"] for s in plain.segments] == list(range(len(plain.segments)))
    worded = faster_tiny_en.transcribe(audio, TranscribeOptions(batch_size=8, word_timestamps=True))
    for segment in worded.segments:
        assert "".join(w["word"] for w in segment["words"]) == segment["text"]
        assert segment["start"] == segment["words"][0]["start"]
        assert segment["end"] == segment["words"][-1]["end"]


def test_loader_picks_the_engine_from_the_directory_layout(
    tiny_en_dir: Path, tiny_en_pt_dir: Path
) -> None:
    assert load_engine(tiny_en_dir, {}).name == "faster"
    openai = load_engine(tiny_en_pt_dir, {})
    assert openai.name == "openai" and openai.model_name == "tiny.en"


def test_a_checkpoint_on_a_server_without_torch_names_the_extra_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The local stack serves from the user's own install: a .pt pushed there failed with
    "No module named 'whisper'" and nothing about what to do."""
    checkpoint_file(tmp_path / "tiny.pt")
    monkeypatch.setitem(sys.modules, "whisper", None)  # as if openai-whisper were not installed
    with pytest.raises(ConfigurationError) as refused:
        load_engine(tmp_path, {"WASYNC_DEVICE": "cpu"})
    assert "'openai' extra" in str(refused.value)
    assert "pip install 'wasync[openai]'" in str(refused.value)
    assert "--engine faster" in str(refused.value)


def test_helper_thread_returns_the_value_and_reraises_the_error() -> None:
    def fail() -> None:
        raise ValueError("bad weights")

    name = on_helper_thread(lambda: threading.current_thread().name)
    assert name.startswith("ctranslate2-loader") and name != threading.current_thread().name
    with pytest.raises(ValueError, match="bad weights"):
        on_helper_thread(fail)


def _joined(*pieces) -> np.ndarray:  # type: ignore[no-untyped-def]
    gap = np.zeros(16000, dtype=np.float32)  # a one-second pause between pieces
    return np.concatenate([part for piece in pieces for part in (piece, gap)][:-1])


def test_batched_path_takes_audio_whose_length_rounds_up_at_the_millisecond(
    faster_tiny_en, data_dir: Path
) -> None:
    # Chunk edges are rounded to 1 ms; the last one once rounded past the end of the audio, and
    # faster-whisper asserted: a 500 when speech starts within VAD's pad and the length rounds up.
    speech = decode_audio(data_dir / "en_30s.wav")
    audio = np.concatenate([_joined(speech, speech), np.zeros(9, dtype=np.float32)])
    assert round(len(audio) / 16000, 3) > len(audio) / 16000
    result = faster_tiny_en.transcribe(audio, TranscribeOptions(batch_size=8))
    assert result.batch_size == 8
    reference = reference_text(data_dir / "en_30s.wav")
    assert word_error_rate([f"{reference} {reference}"], [result.text]) <= 0.3


@pytest.mark.parametrize("batch_size", [1, 8])
def test_a_file_whose_language_changes_keeps_each_part_in_its_own_language(
    faster_base: FasterWhisperEngine, data_dir: Path, batch_size: int
) -> None:
    english = decode_audio(data_dir / "en_30s.wav")
    german = decode_audio(data_dir / "de_short.wav")
    # 31 s of English, then 11 s of German. Not more: six copies of the one German sentence
    # make Whisper repeat itself and fall back to sampling, which, at random, skips a window.
    audio = _joined(english, german, german)
    runs = faster_base.language_runs(audio, faster_base.speech_plan(audio)[0])
    assert [run.language for run in runs] == ["en", "de"]
    assert runs[0].start == 0 and runs[-1].end == len(audio) / 16000
    result = faster_base.transcribe(audio, TranscribeOptions(batch_size=batch_size))
    assert result.language == "en"
    assert "recognition" in result.text.lower()
    assert all(a["end"] <= b["start"] for a, b in itertools.pairwise(result.segments))
    # The German stretch reads as the same audio decoded as German, not as English (detected
    # once per file, it came out as "is today's ..." or translated: "in the park").
    german_part = "".join(s["text"] for s in result.segments if s["start"] >= runs[1].start)
    stretch = audio[int(runs[1].start * 16000) :]
    as_german, as_english = (
        faster_base.transcribe(stretch, TranscribeOptions(batch_size=batch_size, language=code))
        for code in ("de", "en")
    )
    assert german_part.strip() == as_german.text != as_english.text
    given = faster_base.transcribe(audio, TranscribeOptions(batch_size=batch_size, language="en"))
    assert as_german.text not in given.text  # a language the caller gives is kept


def test_batched_path_invents_no_text_from_noise(faster_tiny_en, tmp_path: Path) -> None:
    # Pink noise that Silero VAD takes for speech in three chunks. Sequential decoding drops
    # such windows by Whisper's no-speech rule; the batched pipeline applies none, and wrote
    # "you" 44 times until the batched path decoded such chunks again the sequential way.
    noise = tmp_path / "pink.wav"
    synth = ["synth", "90", "pinknoise", "vol", "0.8"]  # -R: the same noise every run
    subprocess.run(
        ["sox", "-R", "-n", "-r", "16000", "-c", "1", "-b", "16", str(noise), *synth],
        check=True,
        capture_output=True,
    )
    audio = decode_audio(noise)
    assert len(faster_tiny_en.speech_plan(audio)[1]) > 1  # it does take the batched path
    sequential = faster_tiny_en.transcribe(audio, TranscribeOptions(batch_size=1))
    batched = faster_tiny_en.transcribe(audio, TranscribeOptions(batch_size=8))
    assert batched.batch_size == 8
    assert len(batched.text.split()) <= len(sequential.text.split()) + 2


def test_only_a_multilingual_model_detecting_the_language_is_not_prompted_across_windows(
    faster_base: FasterWhisperEngine, faster_tiny_en
) -> None:
    from whisper_async.serving.transcription import prompts_between_windows

    assert not prompts_between_windows(faster_base, TranscribeOptions())
    assert prompts_between_windows(faster_base, TranscribeOptions(language="de"))
    assert prompts_between_windows(faster_tiny_en, TranscribeOptions())


def test_text_stamped_in_a_long_silence_is_dropped_and_the_speech_kept(
    faster_tiny_en, data_dir: Path
) -> None:
    # A minute of silence, then one sentence: Whisper writes " you" into each silent 30 s
    # window; no voice lies under those segments, so they are not spoken text.
    sentence = decode_audio(data_dir / "en_short.wav")
    audio = np.concatenate([np.zeros(60 * 16000, np.float32), sentence])
    result = faster_tiny_en.transcribe(audio, TranscribeOptions())
    assert all(segment["end"] > 59.5 for segment in result.segments), result.segments
    text = result.text.lower()
    assert "quick" in text and "lazy" in text, result.text


def test_a_long_silent_file_comes_back_without_text(faster_tiny_en) -> None:
    # Whisper writes " you" into each silent window; with no voice anywhere, nothing stands.
    result = faster_tiny_en.transcribe(np.zeros(65 * 16000, np.float32), TranscribeOptions())
    assert result.segments == [] and result.text == ""


def test_a_short_clips_token_budget_leaves_room_for_the_longest_prompt() -> None:
    """max_new_tokens plus the prompt may not pass Whisper's 448 (faster-whisper raises), and
    the budget must stay far above what speech needs (about 8 tokens a second)."""
    from whisper_async.serving.engines import BUDGETED_SECONDS, token_budget

    longest_prompt = 223 + 4  # the kept prompt, and the start-of-transcript tokens
    for tenths in range(1, int(BUDGETED_SECONDS * 10) + 1):
        seconds = tenths / 10
        budget = token_budget(seconds)["max_new_tokens"]
        assert budget + longest_prompt <= 448, seconds
        assert budget >= 3 * 8 * seconds, seconds
    assert token_budget(BUDGETED_SECONDS + 0.1) == {}  # longer clips decode as before


def test_words_after_long_pauses_are_timed_within_their_voice(
    faster_tiny_en: FasterWhisperEngine, data_dir: Path
) -> None:
    """Sentences 6.5 s apart, over one window, so the default takes the batched path. Its word
    timings stretched a sentence's first word back over the pause (4.8 s before its voice), so
    subtitles showed the next sentence over the silence."""
    import numpy as np

    clips = [decode_audio(data_dir / name) for name in ("en_short.wav", "en_numbers.wav") * 3]
    pause = np.zeros(int(6.5 * 16000), dtype=np.float32)
    pieces, voiced, at = [], [], 0.0
    for clip in clips:
        pieces += [clip, pause]
        voiced.append((at, at + len(clip) / 16000))
        at += (len(clip) + len(pause)) / 16000
    found = faster_tiny_en.transcribe(
        np.concatenate(pieces), TranscribeOptions(word_timestamps=True)
    )
    assert found.batch_size > 1  # the batched path
    words = [word for segment in found.segments for word in segment["words"] or []]
    assert len(words) > 30
    # what VAD pads a region with, and then some: the silence between sentences stays empty
    slack = 0.5
    for word in words:
        inside = [a - slack <= word["start"] and word["end"] <= b + slack for a, b in voiced]
        assert any(inside), (word, voiced)


def test_a_short_clip_whisper_judges_silent_is_decoded_when_the_vad_hears_speech(
    faster_tiny_en, tmp_path: Path
) -> None:
    """15 s of espeak-ng's default voice came back as an empty transcript marked done: its one
    window's no-speech probability (0.74) and greedy log-probability (-2.1) meet Whisper's
    rule for silence, so nothing was decoded (a stranger's trial)."""
    sentences = " ".join(f"Sentence {n} of clip 1 is here." for n in range(6))
    clip = tmp_path / "clip.wav"
    subprocess.run(
        ["espeak-ng", "-w", str(clip), f"Interrupt test clip 1. {sentences}"], check=True
    )
    audio = decode_audio(clip)
    for _ in range(3):  # the temperature fallback samples: which text varies, never none
        result = faster_tiny_en.transcribe(audio, TranscribeOptions())
        assert len(result.text.split()) >= 10, result.text
    # and silence stays silent: it gave " you", Whisper's word for no speech
    quiet = faster_tiny_en.transcribe(np.zeros(15 * 16000, np.float32), TranscribeOptions())
    assert quiet.text == "" and quiet.segments == []
