"""The benchmark clips: the committed speech clips plus one long file made from them."""

from __future__ import annotations

import shutil
import wave
from pathlib import Path

from bench.metrics import reference_text

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
SHORT = ["en_short.wav", "en_numbers.wav", "en_30s.wav", "en_short.mp3"]


def build(target: Path, long_repeats: int = 20) -> list[Path]:
    """Copy the short clips and write `long.wav` (en_30s repeated; 20 x 31 s = 10.4 min)."""
    target.mkdir(parents=True, exist_ok=True)
    clips = []
    for name in SHORT:
        shutil.copy(DATA / name, target / name)
        reference = (
            DATA / (name + ".txt")
            if (DATA / (name + ".txt")).exists()
            else DATA / name.replace(".wav", ".txt")
        )
        shutil.copy(reference, target / (name + ".txt"))
        clips.append(target / name)
    source = DATA / "en_30s.wav"
    long_path = target / "long.wav"
    with wave.open(str(source), "rb") as src:
        params, frames = src.getparams(), src.readframes(src.getnframes())
    with wave.open(str(long_path), "wb") as out:
        out.setparams(params)
        for _ in range(long_repeats):
            out.writeframes(frames)
    (target / "long.wav.txt").write_text(" ".join([reference_text(source)] * long_repeats) + "\n")
    clips.append(long_path)
    return clips


def audio_seconds(path: Path) -> float:
    from whisper_async.serving.audio import SAMPLE_RATE, decode_audio

    return len(decode_audio(path)) / SAMPLE_RATE
