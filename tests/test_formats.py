from __future__ import annotations

import io

import pytest
import srt
import webvtt

from whisper_async import formats

SEGMENTS = [
    {"id": 0, "start": 0.0, "end": 2.5, "text": " Hello there."},
    {"id": 1, "start": 2.5, "end": 3661.237, "text": " An hour --> later,\tstill talking."},
    {"id": 2, "start": 3661.5, "end": 3662.0, "text": " Bye."},
]
WORDS = [
    {
        "id": 0,
        "start": 0.1,
        "end": 1.0,
        "text": " Hi you.",
        "words": [
            {"start": 0.12, "end": 0.5, "word": " Hi", "probability": 0.9},
            {"start": 0.5, "end": 0.98, "word": " you.", "probability": 0.8},
        ],
    },
]


def whisper_writer(name: str, result: dict) -> str:
    from whisper.utils import WriteSRT, WriteTSV, WriteTXT, WriteVTT

    writer = {"srt": WriteSRT, "vtt": WriteVTT, "tsv": WriteTSV, "txt": WriteTXT}[name](".")
    buffer = io.StringIO()
    writer.write_result(result, buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["srt", "vtt", "tsv", "txt"])
@pytest.mark.parametrize("segments", [SEGMENTS, WORDS], ids=["segments", "words"])
def test_output_matches_openai_whispers_own_writers(fmt: str, segments: list) -> None:
    result = {"text": "", "segments": segments}
    assert formats.render(result, fmt) == whisper_writer(fmt, result)


def test_srt_parses_with_an_independent_parser() -> None:
    cues = list(srt.parse(formats.render({"segments": SEGMENTS}, "srt")))
    assert [c.content for c in cues] == [
        "Hello there.",
        "An hour -> later,\tstill talking.",
        "Bye.",
    ]
    assert cues[1].end.total_seconds() == pytest.approx(3661.237)


def test_vtt_parses_with_an_independent_parser() -> None:
    captions = webvtt.from_buffer(io.StringIO(formats.render({"segments": SEGMENTS}, "vtt")))
    assert [c.text for c in captions] == [
        "Hello there.",
        "An hour -> later,\tstill talking.",
        "Bye.",
    ]
    assert captions[1].end == "01:01:01.237"


def test_json_round_trips_the_result() -> None:
    import json

    result = {"text": "Hello", "segments": SEGMENTS, "language": "en"}
    assert json.loads(formats.render(result, "json")) == result


def test_unknown_format_lists_the_choices() -> None:
    with pytest.raises(ValueError, match="json, txt, srt, vtt, tsv"):
        formats.render({"segments": []}, "docx")


def test_an_accept_list_picks_the_best_weighted_of_our_types() -> None:
    from whisper_async.formats import format_for_accept

    assert format_for_accept("TEXT/VTT") == "vtt"
    assert format_for_accept("text/plain;q=0.4, application/x-subrip;q=0.9") == "srt"
    assert format_for_accept("text/vtt;q=0, text/plain") == "txt"  # q=0: not acceptable
    assert format_for_accept("text/vtt;q=high, text/tab-separated-values") == "tsv"
    assert format_for_accept("") is None and format_for_accept("*/*") is None
