from __future__ import annotations

import pytest

from whisper_async.attributes import (
    OptionError,
    TranscribeOptions,
    UnsupportedLanguageError,
    defaults_from_env,
    encode_attributes,
    parse_attributes,
)


def test_documented_syntax_parses_to_typed_values() -> None:
    values = parse_attributes(
        "language=de;task=translate;format=srt;word_timestamps=true;beam_size=5"
    )
    assert values == {
        "language": "de",
        "task": "translate",
        "format": "srt",
        "word_timestamps": True,
        "beam_size": 5,
    }


def test_words_are_taken_in_any_case_as_the_language_is() -> None:
    values = parse_attributes("language=EN;task=Transcribe;format=SRT")
    assert values == {"language": "en", "task": "transcribe", "format": "srt"}


def test_encode_then_parse_round_trips_text_with_separators_and_unicode() -> None:
    options = {"initial_prompt": "Zoë; a=b, 100%", "vad_filter": True, "language": "fr"}
    assert parse_attributes(encode_attributes(options)) == options


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("colour=blue", "unknown option 'colour'; allowed: language, task"),
        ("task=summarise", "allowed: transcribe, translate"),
        ("format=docx", "allowed: json, txt, srt, vtt, tsv"),
        ("beam_size=0", "out of range; allowed 1 to 20"),
        ("beam_size=many", "not a whole number"),
        ("beam_size=%D9%A5", "not a whole number"),  # an Arabic-Indic 5, which int() reads
        ("batch_size=1_0", "not a whole number"),
        ("vad_filter=maybe", "use true or false"),
        ("language", "is not key=value"),
        ("language=en;language=de", "language is given twice"),  # the last won, unsaid
        ("x" * 1025, "the limit is 1024"),
        ("initial_prompt=caf\u00e9", "printable ASCII"),
        # the openai engine answered 500; the faster one wrote <|0.00|> into the transcript
        ("initial_prompt=%3C%7Cen%7C%3E", "'<|en|>', a Whisper control token"),
        ("initial_prompt=so%20%3C%7C0.00%7C%3E", "'<|0.00|>', a Whisper control token"),
        # 30 s of speech took 26 and 11 times the CPU with these: the decoder looped
        ("initial_prompt=" + "hello%20" * 120, "initial_prompt repeats itself"),
        ("initial_prompt=" + "%F0%9F%98%80" * 80, "compression ratio 18.8"),
    ],
)
def test_bad_options_name_the_problem_and_the_allowed_values(header: str, message: str) -> None:
    with pytest.raises(OptionError) as info:
        parse_attributes(header)
    assert message in str(info.value)


def test_a_prompt_of_plain_speech_is_kept_repeats_and_all() -> None:
    said = "so we went to the store and then we went to the park and then we went home"
    assert parse_attributes(encode_attributes({"initial_prompt": said})) == {"initial_prompt": said}


def test_unknown_language_code_is_a_bad_value_not_an_unsupported_language() -> None:
    # 422 invalid_option: no model knows "xx"; 409 is for a real language this model lacks.
    with pytest.raises(OptionError, match="xx") as info:
        parse_attributes("language=xx")
    assert not isinstance(info.value, UnsupportedLanguageError)


def test_auto_language_means_detect() -> None:
    assert parse_attributes("language=auto") == {"language": None}


def test_deployment_defaults_come_from_environment() -> None:
    defaults = defaults_from_env({"WASYNC_DEFAULT_BEAM_SIZE": "5", "WASYNC_DEFAULT_LANGUAGE": "en"})
    assert defaults == TranscribeOptions(beam_size=5, language="en")
