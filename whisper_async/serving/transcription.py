"""A file on disk to the result the server returns: length check, windows, engine, timings."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..attributes import OptionError, TranscribeOptions
from .decoder_process import decoded_in_child
from .engines import Engine, Transcription
from .errors import EngineError
from .memory import release_freed_memory
from .windows import (
    AudioTooLongError,
    ClientGoneError,
    WindowPlan,
    cut_windows,
    too_long_message,
    transcribe_windows,
)

log = logging.getLogger("wasync.serve")


def _guarded(engine: Engine) -> Callable[[Any, TranscribeOptions], Transcription]:
    """`engine.transcribe`, with its failures (not the caller's bad options) as EngineError."""

    def transcribe(samples: Any, options: TranscribeOptions) -> Transcription:
        try:
            return engine.transcribe(samples, options)
        except OptionError:
            raise
        except Exception as exc:
            log.exception("engine failed")
            raise EngineError(
                f"the {engine.name} engine failed: {type(exc).__name__}: {exc}"
            ) from exc

    return transcribe


def prompts_between_windows(engine: Engine, options: TranscribeOptions) -> bool:
    """Whether a window is prompted with the text before it: not where a multilingual model
    detects the language, since a prompt in another language is copied, not transcribed."""
    return options.language is not None or not engine.multilingual


def transcribe_file(
    engine: Engine,
    path: Path,
    options: TranscribeOptions,
    plan: WindowPlan,
    client_gone: Callable[[], bool] = lambda: False,
) -> dict[str, Any]:
    """Decode and transcribe a file window by window; refuse it first if it is too long. Stops
    before the next window once `client_gone()` (windows.ClientGoneError)."""
    started = time.perf_counter()
    try:
        if client_gone():  # gone while the request waited for its turn
            raise ClientGoneError("the client went away before its turn came")
        with decoded_in_child(path, stop_after=plan.max_seconds) as audio:
            if audio.seconds is not None and audio.seconds > plan.max_seconds:
                raise AudioTooLongError(too_long_message(audio.seconds, plan))
            merged = transcribe_windows(
                _guarded(engine),
                cut_windows(audio.samples, plan),
                options,
                prompt_between_windows=prompts_between_windows(engine, options),
                client_gone=client_gone,
            )
    finally:
        release_freed_memory()
    elapsed = time.perf_counter() - started
    seconds = merged.audio_seconds
    return {
        "text": merged.text,
        "language": merged.language,
        "language_probability": round(merged.language_probability, 4),
        "duration": round(seconds, 3),
        "segments": merged.segments,
        "engine": engine.name,
        "model": engine.model_name,
        "task": options.task,
        "batch_size": merged.batch_size,
        "timings": {
            "audio_seconds": round(seconds, 3),
            "processing_seconds": round(elapsed, 3),
            "real_time_factor": round(elapsed / seconds, 4) if seconds else None,
        },
    }
