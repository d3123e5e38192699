"""Engine fixtures around the real tiny model: a slow one and a broken one; and the shape of
each encoder pass a faster engine makes."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from whisper_async.attributes import TranscribeOptions
from whisper_async.serving.engines import Engine, Transcription


class SlowEngine:
    """The real engine, with a pause before each transcription; counts how many run at once."""

    def __init__(self, inner: Engine, delay: float) -> None:
        self.inner = inner
        self.delay = delay
        self.name = inner.name
        self.model_name = inner.model_name
        self.multilingual = inner.multilingual
        self.max_batch_size = inner.max_batch_size
        self.running = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    def transcribe(self, audio: Any, options: TranscribeOptions) -> Transcription:
        with self._lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            time.sleep(self.delay)
            return self.inner.transcribe(audio, options)
        finally:
            with self._lock:
                self.running -= 1


class HeldEngine:
    """The real engine, held at the start of each transcription until the test releases it."""

    def __init__(self, inner: Engine) -> None:
        self.inner = inner
        self.name = inner.name
        self.model_name = inner.model_name
        self.multilingual = inner.multilingual
        self.max_batch_size = inner.max_batch_size
        self.entered = threading.Event()
        self.release = threading.Event()

    def transcribe(self, audio: Any, options: TranscribeOptions) -> Transcription:
        self.entered.set()
        self.release.wait()
        return self.inner.transcribe(audio, options)

    def detect_language(self, audio: Any) -> tuple[str, float]:
        return self.inner.detect_language(audio)


class BrokenEngine:
    """Loads, then fails every transcription the way a CUDA out-of-memory would."""

    name = "faster"
    model_name = "broken"
    multilingual = True
    max_batch_size = 8

    def transcribe(self, audio: Any, options: TranscribeOptions) -> Transcription:
        raise RuntimeError("CUDA failed with error out of memory")


def slow_loader(engine: Engine, delay: float):  # type: ignore[no-untyped-def]
    def load() -> Engine:
        time.sleep(delay)
        return engine

    return load


def failing_loader() -> Engine:
    raise OSError("model.bin is truncated (expected 75537502 bytes)")


class _RecordingEncoder:
    """CTranslate2's Whisper model, recording the shape of each encoder pass it is given."""

    def __init__(self, model: Any) -> None:
        self._model = model
        self.passes: list[tuple[int, int]] = []

    def encode(self, features: Any, **kwargs: Any) -> Any:
        windows = features.shape[0] if len(features.shape) == 3 else 1
        self.passes.append((windows, features.shape[-1]))
        return self._model.encode(features, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)


@contextmanager
def encoder_passes(engine: Any) -> Iterator[list[tuple[int, int]]]:
    """Each encoder pass the faster `engine` makes inside the block, in order: how many windows
    it encodes at once, and their frames."""
    model = engine.model
    inner = model.model
    model.model = _RecordingEncoder(inner)
    try:
        yield model.model.passes
    finally:
        model.model = inner


@contextmanager
def engine_settings(engine: Any, **values: Any) -> Iterator[None]:
    """`engine`'s attributes set to `values` inside the block, and back to what they were after
    it: the engine fixtures are shared by the whole session."""
    before = {name: getattr(engine, name) for name in values}
    for name, value in values.items():
        setattr(engine, name, value)
    try:
        yield
    finally:
        for name, value in before.items():
            setattr(engine, name, value)
