"""Transcript formats (txt, json, srt, vtt, tsv), shared by the server and the CLI.

The subtitle and TSV writers reproduce openai-whisper's `whisper.utils` writers with their
default options, so output is interchangeable with `whisper --output_format ...`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from .errors import UsageError

FORMATS = ("json", "txt", "srt", "vtt", "tsv")


def check_format(fmt: str) -> None:
    """Refuse a format the CLI cannot write, before any AWS call (exit 2)."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}", f"choose one of {', '.join(FORMATS)}")


def format_of_file(path: str) -> str | None:
    """The format a file name's extension names (`talk.srt`: srt), or None."""
    suffix = path.rpartition(".")[2].lower() if "." in path else ""
    return suffix if suffix in FORMATS else None


def extension_note(path: str, fmt: str) -> str | None:
    """A note when a file gets a format its extension does not name (`-o notes.doc`, or
    `-f json -o talk.srt`): what it holds is then said, not found later."""
    named = format_of_file(path)
    if named == fmt:
        return None
    if named is None:
        return f"{path} holds {fmt} (its extension names no format; -f or -o NAME.srt picks one)"
    return f"{path} holds {fmt}, not {named} (-f {fmt} asked for it)"


CONTENT_TYPES = {
    "json": "application/json",
    "txt": "text/plain; charset=utf-8",
    "srt": "application/x-subrip; charset=utf-8",
    "vtt": "text/vtt; charset=utf-8",
    "tsv": "text/tab-separated-values; charset=utf-8",
}

ACCEPT_TO_FORMAT = {
    "application/json": "json",
    "text/plain": "txt",
    "application/x-subrip": "srt",
    "text/vtt": "vtt",
    "text/tab-separated-values": "tsv",
}

Result = Mapping[str, Any]


def format_for_accept(header: str) -> str | None:
    """The format an `Accept` header prefers among ours: the highest q, then the first listed
    (`text/vtt, application/json;q=0.5` is vtt); None when it names none of them (`*/*`)."""
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(header.split(",")):
        media, *parameters = (part.strip() for part in item.split(";"))
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0  # a malformed weight: as if not listed
        found = ACCEPT_TO_FORMAT.get(media.lower())
        if found is not None and quality > 0:
            ranked.append((-quality, position, found))
    return min(ranked)[2] if ranked else None


def format_timestamp(seconds: float, always_include_hours: bool, decimal_marker: str) -> str:
    milliseconds = round(max(seconds, 0.0) * 1000.0)
    hours, milliseconds = divmod(milliseconds, 3_600_000)
    minutes, milliseconds = divmod(milliseconds, 60_000)
    whole_seconds, milliseconds = divmod(milliseconds, 1_000)
    hours_marker = f"{hours:02d}:" if always_include_hours or hours > 0 else ""
    return f"{hours_marker}{minutes:02d}:{whole_seconds:02d}{decimal_marker}{milliseconds:03d}"


def _cues(segments: Sequence[Mapping[str, Any]]) -> Iterator[tuple[float, float, str]]:
    """One cue per segment; with word timings, the cue spans the words, as whisper does."""
    with_words = bool(segments) and "words" in segments[0]
    for segment in segments:
        if with_words:
            words = segment.get("words") or []
            if not words:
                continue
            text = words[0]["word"].strip() + "".join(w["word"] for w in words[1:])
            yield words[0]["start"], words[-1]["end"], text
        else:
            yield segment["start"], segment["end"], segment["text"].strip().replace("-->", "->")


def to_txt(result: Result) -> str:
    return "".join(f"{segment['text'].strip()}\n" for segment in result["segments"])


def to_vtt(result: Result) -> str:
    lines = ["WEBVTT\n\n"]
    for start, end, text in _cues(result["segments"]):
        lines.append(
            f"{format_timestamp(start, False, '.')} --> {format_timestamp(end, False, '.')}\n{text}\n\n"
        )
    return "".join(lines)


def to_srt(result: Result) -> str:
    lines = []
    for index, (start, end, text) in enumerate(_cues(result["segments"]), start=1):
        lines.append(
            f"{index}\n{format_timestamp(start, True, ',')} --> {format_timestamp(end, True, ',')}\n{text}\n\n"
        )
    return "".join(lines)


def to_tsv(result: Result) -> str:
    lines = ["start\tend\ttext\n"]
    for segment in result["segments"]:
        text = segment["text"].strip().replace("\t", " ")
        lines.append(f"{round(1000 * segment['start'])}\t{round(1000 * segment['end'])}\t{text}\n")
    return "".join(lines)


def to_json(result: Result) -> str:
    return json.dumps(result, ensure_ascii=False, indent=2) + "\n"


_RENDERERS = {"json": to_json, "txt": to_txt, "srt": to_srt, "vtt": to_vtt, "tsv": to_tsv}


def render(result: Result, fmt: str) -> str:
    """Render a transcription result (the server's JSON document) in one of FORMATS."""
    try:
        renderer = _RENDERERS[fmt]
    except KeyError:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}") from None
    return renderer(result)
