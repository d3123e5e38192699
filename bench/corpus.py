"""The benchmark clips: the committed speech clips plus one long file.

Two long files exist, for two jobs:
- `speech.wav` (`build_speech`) reads `long_text.txt` aloud with espeak-ng: 11 minutes of text
  that never repeats, for accuracy figures. A repeated clip would flatter any decoder that
  conditions on its previous output, since the prompt would then hold the words to come.
- `long.wav` (`build`) is en_30s repeated: long, known audio from committed files alone, for
  tests and timings that need a long job rather than a fair WER.

    python -m bench.corpus DIR [--paragraphs N]   # builds the speech corpus into DIR
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import wave
from pathlib import Path

from bench.metrics import reference_path, reference_text

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
LONG_TEXT = Path(__file__).resolve().with_name("long_text.txt")
SHORT = ["en_short.wav", "en_numbers.wav", "en_30s.wav", "en_short.mp3"]


def _copy_short(target: Path) -> list[Path]:
    target.mkdir(parents=True, exist_ok=True)
    clips = []
    for name in SHORT:
        shutil.copy(DATA / name, target / name)
        shutil.copy(reference_path(DATA / name), target / (name + ".txt"))
        clips.append(target / name)
    return clips


def build(target: Path, long_repeats: int = 20) -> list[Path]:
    """Copy the short clips and write `long.wav` (en_30s repeated; 20 x 31 s = 10.4 min)."""
    clips = _copy_short(target)
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


def paragraphs(count: int | None = None) -> list[str]:
    """The paragraphs of long_text.txt, each on one line; all of them when count is None."""
    found = [" ".join(p.split()) for p in LONG_TEXT.read_text().split("\n\n") if p.strip()]
    return found[:count] if count else found


def build_speech(target: Path, paragraph_count: int | None = None) -> list[Path]:
    """Copy the short clips and synthesise `speech.wav` from long_text.txt (all of it: 11.2 min)."""
    missing = [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]
    if missing:
        raise SystemExit(
            f"the benchmark corpus needs {' and '.join(missing)}: run scripts/system-deps.sh, "
            "or build it elsewhere with `python -m bench.corpus DIR` and pass --corpus DIR"
        )
    clips = _copy_short(target)
    text = "\n\n".join(paragraphs(paragraph_count))
    raw, speech = target / "speech.raw.wav", target / "speech.wav"
    # Same voice and rate as tests/data/make_clips.sh; sox resamples to Whisper's 16 kHz mono.
    espeak = ["espeak-ng", "-v", "en-us", "-s", "150", "--stdin", "-w", str(raw)]
    subprocess.run(espeak, input=text + "\n", text=True, check=True)
    # -D: no dither, whose random noise would make every build of the corpus differ.
    sox = ["sox", "-D", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(speech)]
    subprocess.run(sox, check=True)
    raw.unlink()
    (target / "speech.wav.txt").write_text(" ".join(text.split()) + "\n")
    clips.append(speech)
    return clips


def existing(directory: Path) -> list[Path]:
    """A corpus built earlier by `python -m bench.corpus DIR`, in the same order."""
    clips = [directory / name for name in [*SHORT, "speech.wav"]]
    absent = [c.name for c in clips if not c.is_file()]
    if absent:
        raise SystemExit(f"{directory} is not a benchmark corpus (missing {', '.join(absent)})")
    return clips


def audio_seconds(path: Path) -> float:
    from whisper_async.serving.audio import SAMPLE_RATE, decode_audio

    return len(decode_audio(path)) / SAMPLE_RATE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="build the engine benchmark's speech corpus")
    parser.add_argument("directory", type=Path)
    parser.add_argument("--paragraphs", type=int, help="only the first N paragraphs")
    args = parser.parse_args(argv)
    clips = build_speech(args.directory, args.paragraphs)
    total = sum(audio_seconds(c) for c in clips)
    print(f"{len(clips)} clips, {total / 60:.1f} min, in {args.directory}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
