"""A stand-in engine for client-scale tests: it answers at once, without a model.

Transcribing 10,000 clips with a real model takes hours on a CPU; the client, the job records
and the local stack's queueing do not depend on what the model says. This engine lets a test
or a benchmark push ten thousand jobs through the real server, emulator and CLI in minutes.
Its "transcript" names what it received: the number of samples and the clip's mean level
(`level N` for a clip whose samples average N), so a test can check that every result belongs
to its own input.

It is never chosen by default: only a model whose `wasync-model.json` says `"engine":
"standin"` loads it (`push-model` never writes that; tests build such a model by hand). An
optional `standin.json` next to it, `{"seconds": 2}`, makes each request take that long, for
tests that need a job to still be running. Each request logs one line, `stand-in transcribed
level N`, so a test can count how often each input reached the container.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from ..attributes import TranscribeOptions
from .audio import SAMPLE_RATE
from .engines import Transcription

SETTINGS_FILE = "standin.json"
log = logging.getLogger("wasync.serve.standin")


class StandInEngine:
    name = "standin"
    multilingual = True
    max_batch_size = 128

    def __init__(self, model_name: str = "standin", seconds: float = 0.0) -> None:
        self.model_name = model_name
        self.seconds = seconds

    def transcribe(self, audio: Any, options: TranscribeOptions) -> Transcription:
        if self.seconds:
            time.sleep(self.seconds)
        samples = len(audio)
        level = round(float(audio.mean()) * 32768) if samples else 0
        text = f" stand-in transcript: {samples} samples, level {level}"
        log.info("stand-in transcribed level %d", level)
        segment = {"id": 0, "start": 0.0, "end": round(samples / SAMPLE_RATE, 3), "text": text}
        return Transcription(options.language or "en", 1.0, [segment])

    def detect_language(self, audio: Any) -> tuple[str, float]:
        return "en", 1.0


def load_standin(model_dir: Path, model_name: str = "standin") -> StandInEngine:
    settings_path = model_dir / SETTINGS_FILE
    settings = json.loads(settings_path.read_text()) if settings_path.is_file() else {}
    return StandInEngine(model_name, float(settings.get("seconds", 0.0)))
