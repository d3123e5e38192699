"""Engine fixtures around the real tiny model: a slow one and a broken one."""

from __future__ import annotations

import threading
import time
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

    def transcribe(self, audio: Any, options: TranscribeOptions) -> Transcription:
        raise RuntimeError("CUDA failed with error out of memory")


def slow_loader(engine: Engine, delay: float):  # type: ignore[no-untyped-def]
    def load() -> Engine:
        time.sleep(delay)
        return engine

    return load


def failing_loader() -> Engine:
    raise OSError("model.bin is truncated (expected 75537502 bytes)")
