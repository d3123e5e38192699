"""Request options and their wire form, `X-Amzn-SageMaker-Custom-Attributes`.

Syntax: `key=value;key=value`, with each value URL-encoded (so `;`, `=` and non-ASCII text
survive). At most 1024 printable ASCII characters, SageMaker's limit. The server parses it,
the CLI writes it: both use this module.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any
from urllib.parse import quote, unquote

from .formats import FORMATS

MAX_ATTRIBUTES_LENGTH = 1024

# Whisper's language codes (openai-whisper and faster-whisper use the same list).
LANGUAGES = frozenset(
    [
        "af",
        "am",
        "ar",
        "as",
        "az",
        "ba",
        "be",
        "bg",
        "bn",
        "bo",
        "br",
        "bs",
        "ca",
        "cs",
        "cy",
        "da",
        "de",
        "el",
        "en",
        "es",
        "et",
        "eu",
        "fa",
        "fi",
        "fo",
        "fr",
        "gl",
        "gu",
        "ha",
        "haw",
        "he",
        "hi",
        "hr",
        "ht",
        "hu",
        "hy",
        "id",
        "is",
        "it",
        "ja",
        "jw",
        "ka",
        "kk",
        "km",
        "kn",
        "ko",
        "la",
        "lb",
        "ln",
        "lo",
        "lt",
        "lv",
        "mg",
        "mi",
        "mk",
        "ml",
        "mn",
        "mr",
        "ms",
        "mt",
        "my",
        "ne",
        "nl",
        "nn",
        "no",
        "oc",
        "pa",
        "pl",
        "ps",
        "pt",
        "ro",
        "ru",
        "sa",
        "sd",
        "si",
        "sk",
        "sl",
        "sn",
        "so",
        "sq",
        "sr",
        "su",
        "sv",
        "sw",
        "ta",
        "te",
        "tg",
        "th",
        "tk",
        "tl",
        "tr",
        "tt",
        "uk",
        "ur",
        "uz",
        "vi",
        "yi",
        "yo",
        "zh",
        "yue",
    ]
)
TASKS = ("transcribe", "translate")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


# `<|en|>`, `<|0.00|>`, `<|endoftext|>`: the openai engine failed on them (a 500), the faster
# engine took them as control tokens and wrote a timestamp token into the transcript.
CONTROL_TOKEN = re.compile(r"<\|[^|<>]{0,40}\|>")
# Whisper's rule for text that loops (its zlib ratio over 2.4). A prompt like that ("hello "
# 120 times) set the decoder looping through every fallback temperature: 26 times the CPU of
# the same 30 s of audio without it.
COMPRESSION_RATIO_THRESHOLD = 2.4


def compression_ratio(text: str) -> float:
    data = text.encode("utf-8", "surrogatepass")
    return len(data) / len(zlib.compress(data)) if data else 0.0


# The HTTP header SageMaker carries the request's CustomAttributes in, to the container
ATTRIBUTES_HEADER = "X-Amzn-SageMaker-Custom-Attributes"


class OptionError(ValueError):
    """An unknown option or a bad value; the message lists what is allowed."""


class UnsupportedLanguageError(OptionError):
    pass


@dataclass(frozen=True)
class TranscribeOptions:
    language: str | None = None
    task: str = "transcribe"
    format: str = "json"
    word_timestamps: bool = False
    vad_filter: bool = False
    beam_size: int = 1
    initial_prompt: str | None = None
    batch_size: int | None = None  # None: the engine's default (faster: 2 on CPU, 8 on GPU)

    def with_values(self, values: Mapping[str, Any]) -> TranscribeOptions:
        return replace(self, **values)


OPTION_NAMES = tuple(f.name for f in fields(TranscribeOptions))


def _parse_bool(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise OptionError(f"{name}={raw!r} is not a boolean; use true or false")


def _parse_int(name: str, raw: str, low: int, high: int) -> int:
    # ASCII digits only: int() also reads '1_0' and other scripts' digits ('\u0665' is 5)
    if not re.fullmatch(r"\s*[+-]?[0-9]{1,9}\s*", raw):
        raise OptionError(f"{name}={raw!r} is not a whole number from {low} to {high}")
    value = int(raw)
    if not low <= value <= high:
        raise OptionError(f"{name}={value} is out of range; allowed {low} to {high}")
    return value


def parse_value(name: str, raw: str) -> Any:
    """Validate one option's text value and return it typed."""
    if name == "language":
        code = raw.strip().lower()
        if code in {"", "auto"}:
            return None
        if code not in LANGUAGES:
            raise OptionError(
                f"language={raw!r} is not a Whisper language code; use e.g. en, de, ja, or auto"
            )
        return code
    if name in {"task", "format"}:  # in any case, as language and the CLI's -f take them
        allowed = TASKS if name == "task" else FORMATS
        word = raw.strip().lower()
        if word not in allowed:
            raise OptionError(f"{name}={raw!r} is invalid; allowed: {', '.join(allowed)}")
        return word
    if name in {"word_timestamps", "vad_filter"}:
        return _parse_bool(name, raw)
    if name == "beam_size":
        return _parse_int(name, raw, 1, 20)
    if name == "batch_size":
        return _parse_int(name, raw, 1, 128)
    if name == "initial_prompt":
        if token := CONTROL_TOKEN.search(raw):
            raise OptionError(
                f"initial_prompt holds {token.group()!r}, a Whisper control token; the prompt "
                "is plain text (the previous words of the speech): remove it"
            )
        if (ratio := compression_ratio(raw)) > COMPRESSION_RATIO_THRESHOLD:
            raise OptionError(
                f"initial_prompt repeats itself (compression ratio {ratio:.1f}, over the "
                f"{COMPRESSION_RATIO_THRESHOLD} at which Whisper judges text to loop), which sets "
                "the decoder looping; give the previous words of the speech, or the names it "
                "holds, once each"
            )
        return raw or None
    raise OptionError(f"unknown option {name!r}; allowed: {', '.join(OPTION_NAMES)}")


def parse_attributes(header: str | None) -> dict[str, Any]:
    """Parse a custom-attributes header into typed option values."""
    if not header:
        return {}
    if len(header) > MAX_ATTRIBUTES_LENGTH:
        raise OptionError(
            f"custom attributes are {len(header)} characters; the limit is {MAX_ATTRIBUTES_LENGTH}"
        )
    if not all(32 <= ord(ch) < 127 for ch in header):
        raise OptionError("custom attributes must be printable ASCII; URL-encode other text")
    values: dict[str, Any] = {}
    for part in header.split(";"):
        part = part.strip()
        if not part:
            continue
        name, sep, raw = part.partition("=")
        name = name.strip()
        if not sep:
            raise OptionError(f"{part!r} is not key=value; example: language=de;task=translate")
        if name in values:  # `language=en;language=de` took the last without a word
            raise OptionError(f"{name} is given twice; give each option once")
        values[name] = parse_value(name, unquote(raw.strip()))
    return values


def canonical_options(values: Mapping[str, Any]) -> dict[str, Any]:
    """The options as the server reads them (` EN` is `en`; `auto` and an empty language are
    detection, so no option at all): what a job's identity and its header are made from."""
    found: dict[str, Any] = {}
    for name, value in values.items():
        if value is None:
            continue
        if name not in OPTION_NAMES:
            raise OptionError(f"unknown option {name!r}; allowed: {', '.join(OPTION_NAMES)}")
        parsed = parse_value(name, _text(value))
        # task=transcribe is the server's default, which no endpoint setting changes: said or
        # not (in any case), one job
        if parsed is not None and (name, parsed) != ("task", "transcribe"):
            found[name] = parsed
    return found


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def encode_attributes(values: Mapping[str, Any]) -> str:
    """The header text for a set of options; the inverse of parse_attributes."""
    parts = [
        f"{name}={quote(_text(value), safe='')}"
        for name, value in canonical_options(values).items()
    ]
    header = ";".join(parts)
    if len(header) > MAX_ATTRIBUTES_LENGTH:
        raise OptionError(
            f"the options encode to {len(header)} characters; SageMaker allows "
            f"{MAX_ATTRIBUTES_LENGTH} (shorten --initial-prompt)"
        )
    return header


MAX_BATCH_SETTING = "WASYNC_MAX_BATCH_SIZE"  # the server's limit on a request's batch_size


def parse_batch_limit(raw: str) -> int:
    """WASYNC_MAX_BATCH_SIZE's value; ValueError names the variable."""
    try:
        return int(parse_value("batch_size", raw))
    except OptionError as exc:
        raise ValueError(f"{MAX_BATCH_SETTING}: {exc}") from None


def defaults_from_env(environ: Mapping[str, str]) -> TranscribeOptions:
    """Deployment-wide defaults: WASYNC_DEFAULT_<OPTION> environment variables."""
    values = {
        name: parse_value(name, environ[f"WASYNC_DEFAULT_{name.upper()}"])
        for name in OPTION_NAMES
        if f"WASYNC_DEFAULT_{name.upper()}" in environ
    }
    return TranscribeOptions().with_values(values)
