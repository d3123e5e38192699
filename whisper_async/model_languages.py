"""Whether a Whisper model knows languages besides English, read from its files without
loading it (the CLI has no torch).

push-model records it in the model's S3 metadata, deploy in the model's container variable
WASYNC_MODEL_LANGUAGES, and transcribe reads that variable back, so `--language de` sent to an
English-only model is refused before a file is uploaded (the server refuses it too, but only
after each file has been sent).
"""

from __future__ import annotations

import json
from pathlib import Path

ENGLISH = "en"
MULTILINGUAL = "multilingual"
VALUES = (ENGLISH, MULTILINGUAL)
SETTING = "WASYNC_MODEL_LANGUAGES"  # the deployed model's container variable
METADATA_KEY = "languages"  # model.tar.gz's S3 metadata
# English-only Whisper models have 51864 tokens, multilingual ones 51865 or more (large-v3:
# 51866): openai-whisper's ModelDimensions.is_multilingual and CTranslate2 decide alike.
MULTILINGUAL_VOCABULARY = 51865


def of_vocabulary_size(size: int) -> str:
    return MULTILINGUAL if size >= MULTILINGUAL_VOCABULARY else ENGLISH


def of_ctranslate2(directory: Path) -> str | None:
    """From a CTranslate2 folder's vocabulary (a JSON list, or one token per line); None
    when there is none to read."""
    listed = directory / "vocabulary.json"
    lines = directory / "vocabulary.txt"
    try:
        if listed.is_file():
            tokens = json.loads(listed.read_text(encoding="utf-8"))
            return of_vocabulary_size(len(tokens)) if isinstance(tokens, list) else None
        if lines.is_file():
            with lines.open("rb") as handle:
                return of_vocabulary_size(sum(1 for _ in handle))
    except (OSError, ValueError):
        return None
    return None


def known(value: str | None) -> str | None:
    """A recorded value, or None for anything else (an older push, a hand-made object)."""
    return value if value in VALUES else None


def refusal(model: str, language: str | None, task: str) -> str | None:
    """Why an English-only model (`model`: a name, or a phrase such as "the model endpoint
    whisper serves") cannot serve a request's language and task, else None."""
    if language not in {None, ENGLISH}:
        return f"language={language!r} needs a multilingual model; {model} is English-only"
    if task == "translate":
        return f"task=translate needs a multilingual model; {model} is English-only"
    return None
