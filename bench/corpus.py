"""The evaluation corpus: varied synthetic speech in two splits, built by a seeded script.

    python -m bench.corpus [DIR] [--split tune|heldout] [--quick]   # default DIR: bench/.corpus
    python -m bench.corpus [DIR] --more-clips SEED   # DIR/tune-SEED: more non-English tuning clips
    python -m bench.corpus [DIR] --more-long SEED    # DIR/tune-SEED: more long English tuning files

Each split holds short clips (2-20 s) and long files (3-15 min) joined from sections spoken by
different voices of three English synthesizers (espeak-ng, flite, festival) at speeds from slow to
fast, with pauses of 0.2-3 s between sentences and, in most files, pink noise, brown noise or
mains hum at 10-25 dB SNR; then Japanese (kokoro), Italian and Russian clips and one long file
whose language changes every section. Every draw (text, voice, speed, pause, noise) comes from
the split's seed, so a rebuild gives the same bytes; the audio stays out of git (the directory is
ignored) and sentences are cached, so a rebuild is quick.

The split: `heldout` is everything drawn from HELDOUT_SEED, with the odd-indexed names and places
of bench/textgen.py and a seeded half of the non-English sentences; `tune` is drawn from
TUNE_SEED, with the other names, places and sentences, and rejects any sentence the held-out split
has. Tuning code (bench/tune.py) reads the corpus only through `tuning_files`, which refuses the
held-out folder; only the benchmark's report reads `heldout_files`.

`build` (below) is different: a long file made of the committed clip en_30s.wav repeated, for
tests and timings that need long, known audio rather than a fair WER.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import shutil
import sys
import tempfile
import wave
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench import synth, textgen
from bench.metrics import reference_path, reference_text

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
TEXTS = Path(__file__).resolve().with_name("texts")
DEFAULT_DIR = Path(__file__).resolve().with_name(".corpus")
SHORT = ["en_short.wav", "en_numbers.wav", "en_30s.wav", "en_short.mp3"]

HELDOUT_SEED = 20261130
TUNE_SEED = 7
SPLITS = {"tune": TUNE_SEED, "heldout": HELDOUT_SEED}
VERSION = 1  # bump when a change to this file changes the audio it makes
SNR_RANGE = (10.0, 25.0)
PAUSE_RANGE = (0.2, 3.0)
SPEED_RANGE = (0.75, 1.3)
NOISES = ("none", "pink", "brown", "hum")


@dataclass
class Sentence:
    text: str
    voice: str  # synthesizer:voice
    language: str
    start: float
    end: float


@dataclass
class CorpusFile:
    name: str
    kind: str  # short, long, or mixed (a long file whose language changes)
    language: str  # Whisper's code, or "mixed"
    sentences: list[Sentence] = field(default_factory=list)
    noise: list[str] = field(default_factory=list)  # per section: "pink 14.2 dB", "none"
    duration: float = 0.0
    path: Path = Path()

    @property
    def synthesizers(self) -> list[str]:
        return sorted({s.voice.split(":")[0] for s in self.sentences})

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.sentences)


@dataclass(frozen=True)
class Layout:
    """How much of each kind a split holds."""

    short_clips: int = 15
    long_minutes: tuple[float, ...] = (4.0, 8.0)
    japanese_clips: int = 5
    italian_clips: int = 3
    russian_clips: int = 2
    mixed: bool = True
    synthesizers: tuple[str, ...] = ("espeak", "flite", "festival", "kokoro")

    def english(self) -> dict[str, list[synth.Voice]]:
        return {k: v for k, v in synth.ENGLISH_VOICES.items() if k in self.synthesizers}

    def voices(self, language: str) -> list[synth.Voice]:
        return [v for v in synth.OTHER_VOICES[language] if v.synthesizer in self.synthesizers]


FULL = Layout()
# The smoke test's corpus: espeak-ng only (scripts/system-deps.sh installs it), so `make test`
# needs none of the benchmark's synthesizers.
QUICK = Layout(
    short_clips=2,
    long_minutes=(0.3,),
    japanese_clips=0,
    italian_clips=1,
    russian_clips=0,
    mixed=False,
    synthesizers=("espeak",),
)
# `--more-clips`: each tuning-half sentence of ja.txt, it.txt and ru.txt (8, 6 and 6) once.
MORE_CLIPS = Layout(
    short_clips=0, long_minutes=(), japanese_clips=8, italian_clips=6, russian_clips=6, mixed=False
)
# `--more-long`: English long files only, to look for lost phrases on more tuning speech.
MORE_LONG = Layout(
    short_clips=0,
    long_minutes=(6.0, 8.0, 10.0),
    japanese_clips=0,
    italian_clips=0,
    russian_clips=0,
    mixed=False,
    synthesizers=("espeak", "flite", "festival"),
)


# --- noise ---------------------------------------------------------------------------------


def _coloured(rng: np.random.Generator, samples: int, exponent: float) -> np.ndarray:
    """Noise whose power falls as 1/f**exponent: 1 is pink, 2 is brown."""
    spectrum = np.fft.rfft(rng.standard_normal(samples))
    frequencies = np.fft.rfftfreq(samples, 1 / synth.SAMPLE_RATE)
    frequencies[0] = frequencies[1]
    spectrum /= frequencies ** (exponent / 2)
    spectrum[frequencies < 20] = 0  # no DC drift
    noise = np.fft.irfft(spectrum, samples)
    return (noise / (np.std(noise) or 1.0)).astype(np.float32)


def _hum(rng: np.random.Generator, samples: int) -> np.ndarray:
    mains = rng.choice([50.0, 60.0])
    t = np.arange(samples) / synth.SAMPLE_RATE
    hum = sum(
        a * np.sin(2 * np.pi * mains * k * t) for k, a in ((1, 1.0), (2, 0.5), (3, 0.35), (5, 0.2))
    )
    hum = hum + 0.1 * _coloured(rng, samples, 1.0)
    return (hum / np.std(hum)).astype(np.float32)


def add_noise(speech: np.ndarray, kind: str, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Speech plus noise at `snr_db` against the power of the speech (its voiced samples)."""
    if kind == "none":
        return speech
    noise = {
        "pink": lambda: _coloured(rng, len(speech), 1.0),
        "brown": lambda: _coloured(rng, len(speech), 2.0),
        "hum": lambda: _hum(rng, len(speech)),
    }[kind]()
    voiced = speech[np.abs(speech) > 0.01]
    power = float(np.mean(voiced**2)) if len(voiced) else 1e-4
    return speech + noise * np.sqrt(power / 10 ** (snr_db / 10))


# --- building --------------------------------------------------------------------------------


def split_seed(split: str) -> int:
    """The seed of `tune`, `heldout`, or a `tune-SEED` split of more tuning files."""
    if split in SPLITS:
        return SPLITS[split]
    if split.startswith("tune-") and split[5:].isdigit():
        return int(split[5:])
    raise ValueError(f"no split {split!r}: tune, heldout or tune-SEED")


class _Builder:
    def __init__(self, split: str, directory: Path, cache: Path) -> None:
        self.split = split
        self.seed = split_seed(split)
        self.rng = random.Random(self.seed)
        self.noise_rng = np.random.default_rng(self.seed)
        self.directory = directory
        self.cache = cache
        exclude = frozenset()
        if split != "heldout":  # never a held-out sentence, whatever the template draws
            held = textgen.sentences(HELDOUT_SEED, held_out=True)
            exclude = frozenset(itertools.islice(held, 3000))
        self.english = textgen.sentences(self.seed, held_out=split == "heldout", exclude=exclude)
        self.other = {lang: iter(self._sentences_of(lang)) for lang in ("ja", "it", "ru")}

    def _sentences_of(self, language: str) -> list[str]:
        lines = [line.strip() for line in (TEXTS / f"{language}.txt").read_text().splitlines()]
        lines = [line for line in lines if line]
        random.Random(HELDOUT_SEED).shuffle(lines)  # the same halves whichever split is built
        half = (len(lines) + 1) // 2 + 2
        return lines[:half] if self.split == "heldout" else lines[half:]

    def _pause(self) -> np.ndarray:
        return np.zeros(int(self.rng.uniform(*PAUSE_RANGE) * synth.SAMPLE_RATE), np.float32)

    def _noise(self) -> tuple[str, float]:
        kind = self.rng.choice(NOISES)
        return kind, round(self.rng.uniform(*SNR_RANGE), 1)

    def section(
        self, voice: synth.Voice, texts: list[str], offset: float, max_seconds: float = 1e9
    ) -> tuple[np.ndarray, list[Sentence], str]:
        """Sentences in one voice, speed and noise, joined by pauses; stops before max_seconds."""
        speed = round(self.rng.uniform(*SPEED_RANGE), 2)
        kind, snr = self._noise()
        pieces: list[np.ndarray] = []
        sentences: list[Sentence] = []
        cursor = offset
        for text in texts:
            audio = synth.speak(voice, text, speed, self.cache)
            gap = self._pause() if pieces else np.zeros(0, np.float32)
            if (
                sentences
                and cursor + len(gap) / synth.SAMPLE_RATE + len(audio) / synth.SAMPLE_RATE - offset
                > max_seconds
            ):
                break
            pieces += [gap, audio]
            start = cursor + len(gap) / synth.SAMPLE_RATE
            cursor = start + len(audio) / synth.SAMPLE_RATE
            sentences.append(
                Sentence(text, voice.label, voice.language, round(start, 3), round(cursor, 3))
            )
        audio = add_noise(np.concatenate(pieces), kind, snr, self.noise_rng)
        return audio, sentences, "none" if kind == "none" else f"{kind} {snr} dB"

    def write(self, entry: CorpusFile, pieces: list[np.ndarray]) -> CorpusFile:
        audio = np.concatenate(pieces)
        peak = float(np.max(np.abs(audio))) or 1.0
        audio = audio * min(1.0, 0.95 / peak)
        entry.path = self.directory / f"{entry.name}.wav"
        synth.write_wav(entry.path, audio)
        entry.path.with_name(entry.path.name + ".txt").write_text(entry.text + "\n")
        entry.duration = round(len(audio) / synth.SAMPLE_RATE, 2)
        return entry

    def short_clip(
        self, index: int, voice: synth.Voice, sentences: Iterator[str], count: int
    ) -> CorpusFile:
        audio, said, noise = self.section(
            voice, list(itertools.islice(sentences, count)), 0.0, 19.0
        )
        lead = np.zeros(int(self.rng.uniform(0.1, 0.6) * synth.SAMPLE_RATE), np.float32)
        for s in said:
            s.start, s.end = (
                round(s.start + len(lead) / synth.SAMPLE_RATE, 3),
                round(s.end + len(lead) / synth.SAMPLE_RATE, 3),
            )
        entry = CorpusFile(
            f"{voice.language}-short-{index:02d}", "short", voice.language, said, [noise]
        )
        return self.write(entry, [lead, audio, np.zeros(int(0.3 * synth.SAMPLE_RATE), np.float32)])

    def long_file(
        self, index: int, minutes: float, voices: list[synth.Voice], language: str = "en"
    ) -> CorpusFile:
        """Sections by different voices, one after another, until the file is `minutes` long;
        a mixed-language file has one section per voice given, in order."""
        entry = CorpusFile(
            f"{language}-long-{index:02d}", "long" if language != "mixed" else "mixed", language
        )
        pieces: list[np.ndarray] = []
        offset = 0.0
        for turn in itertools.count():
            if offset >= minutes * 60 or (language == "mixed" and turn == len(voices)):
                break
            voice = voices[turn % len(voices)]
            if voice.language == "en":
                texts = list(itertools.islice(self.english, self.rng.randint(4, 9)))
            else:
                texts = list(itertools.islice(self.other[voice.language], 8))
                if not texts:
                    break
            if pieces:
                gap = self._pause()
                pieces.append(gap)
                offset += len(gap) / synth.SAMPLE_RATE
            audio, said, noise = self.section(voice, texts, offset)
            pieces.append(audio)
            entry.sentences += said
            entry.noise.append(noise)
            offset += len(audio) / synth.SAMPLE_RATE
        return self.write(entry, pieces)


def _english_voices(rng: random.Random, layout: Layout) -> list[synth.Voice]:
    """Every English voice once, shuffled so that no two neighbours share a synthesizer."""
    groups = [rng.sample(voices, len(voices)) for voices in layout.english().values()]
    mixed = [v for trio in itertools.zip_longest(*groups) for v in trio if v is not None]
    return mixed


def build_split(split: str, directory: Path, layout: Layout = FULL) -> list[CorpusFile]:
    """Synthesise one split into `directory/split`, with its manifest.json."""
    missing = synth.missing_tools(layout.synthesizers)
    if missing:
        raise SystemExit(
            f"the evaluation corpus needs {', '.join(missing)}: run `bash bench/system-deps.sh`, "
            "or build the corpus elsewhere and copy it here"
        )
    target = directory / split
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    builder = _Builder(split, target, directory / ".sentences")
    files: list[CorpusFile] = []
    english_voices = layout.english()
    synthesizers = list(english_voices)
    for index in range(layout.short_clips):
        voices = english_voices[synthesizers[index % len(synthesizers)]]
        voice = builder.rng.choice(voices)
        files.append(builder.short_clip(index, voice, builder.english, builder.rng.randint(1, 3)))
    for index, minutes in enumerate(layout.long_minutes):
        files.append(builder.long_file(index, minutes, _english_voices(builder.rng, layout)))
    for language, count in (
        ("ja", layout.japanese_clips),
        ("it", layout.italian_clips),
        ("ru", layout.russian_clips),
    ):
        voices = layout.voices(language)
        for index in range(count):
            files.append(
                builder.short_clip(index, voices[index % len(voices)], builder.other[language], 1)
            )
    if layout.mixed:
        english = _english_voices(builder.rng, layout)
        order = [
            english[0],
            builder.rng.choice(synth.OTHER_VOICES["ja"]),
            synth.OTHER_VOICES["it"][0],
            english[1],
            synth.OTHER_VOICES["ru"][0],
            english[2],
        ]
        files.append(builder.long_file(0, 15.0, order, language="mixed"))
    manifest = {
        "version": VERSION,
        "split": split,
        "seed": split_seed(split),
        "layout": asdict(layout),
        "files": [entry_json(f) for f in files],
    }
    (target / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    return files


def entry_json(entry: CorpusFile) -> dict[str, object]:
    data = asdict(entry)
    data["path"] = entry.path.name
    return data


def load_split(directory: Path, split: str) -> list[CorpusFile]:
    manifest_path = directory / split / "manifest.json"
    if not manifest_path.is_file():
        raise SystemExit(
            f"{directory / split} is not a built corpus split: run `python -m bench.corpus {directory}`"
        )
    manifest = json.loads(manifest_path.read_text())
    if manifest.get("version") != VERSION:
        raise SystemExit(f"{directory} was built by an older bench/corpus.py: rebuild it")
    files = []
    for data in manifest["files"]:
        data["sentences"] = [Sentence(**s) for s in data["sentences"]]
        data["path"] = directory / split / data["path"]
        files.append(CorpusFile(**data))
    return files


def heldout_files(directory: Path) -> list[CorpusFile]:
    """The held-out split: for the benchmark's report only, never for a tuning decision."""
    return load_split(directory, "heldout")


def split_files(directory: Path, split: str) -> list[CorpusFile]:
    """`heldout`, or a tuning split (checked as `tuning_files` checks it)."""
    return heldout_files(directory) if split == "heldout" else tuning_files(directory, split)


def split_title(split: str) -> str:
    return "Held-out split" if split == "heldout" else f"Tuning split `{split}`"


def tuning_files(directory: Path, split: str = "tune") -> list[CorpusFile]:
    """The tuning split (or a `tune-SEED` split of more tuning files), the only ones
    bench/tune.py may read."""
    if split_seed(split) == HELDOUT_SEED:
        raise RuntimeError("the held-out split is not for tuning")
    files = load_split(directory, split)
    leaked = [f.name for f in files if "heldout" in f.path.parts]
    if leaked:
        raise RuntimeError(f"held-out files reached a tuning helper: {leaked}")
    return files


def _same_layout(manifest: dict[str, Any], layout: Layout) -> bool:
    """Whether a manifest was written for `layout` (compared as JSON, where tuples are lists)."""
    return bool(manifest.get("layout") == json.loads(json.dumps(asdict(layout))))


def ensure_built(directory: Path, splits: tuple[str, ...], layout: Layout = FULL) -> None:
    """Build each split that is missing or was built by another version or layout."""
    for split in splits:
        manifest = directory / split / "manifest.json"
        if manifest.is_file():
            data = json.loads(manifest.read_text())
            if data.get("version") == VERSION and _same_layout(data, layout):
                continue
        print(f"building the {split} split in {directory} ...", file=sys.stderr, flush=True)
        build_split(split, directory, layout)


def prepare(directory: Path, quick: bool = False, split: str = "heldout") -> Path:
    """The held-out split (or the tuning split `tune`), built if needed; a quick corpus lives in
    its own subfolder so that it never replaces the full one. A `tune-SEED` split is made by its
    own command (`--more-clips`, `--more-long`)."""
    target = directory / "quick" if quick else directory
    if split in ("heldout", "tune"):
        ensure_built(target, (split,), QUICK if quick else FULL)
    return target


# --- the committed clips, for tests and timings ------------------------------------------------


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


def audio_seconds(path: Path) -> float:
    from whisper_async.serving.audio import SAMPLE_RATE, decode_audio

    return len(decode_audio(path)) / SAMPLE_RATE


def describe(files: list[CorpusFile]) -> str:
    minutes = sum(f.duration for f in files) / 60
    kinds = {kind: sum(1 for f in files if f.kind == kind) for kind in ("short", "long", "mixed")}
    return f"{len(files)} files, {minutes:.1f} min ({kinds['short']} short, {kinds['long']} long, {kinds['mixed']} mixed-language)"


def run_benchmark(
    argv: list[str] | None,
    measure: Callable[[int, Path, Path], Any],
    report: Callable[[Any], str],
    runs: int,
) -> int:
    """The command line of a benchmark over the held-out split (`--runs`, `--corpus`,
    `--quick`): `measure(runs, corpus, workdir)` in a scratch folder, then its report."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=runs)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    directory = prepare(args.corpus, args.quick)
    with tempfile.TemporaryDirectory(prefix="wasync-bench-") as workdir:
        print(report(measure(args.runs, directory, Path(workdir))))
    return 0


def _built_otherwise(target: Path, layout: Layout) -> bool:
    """Whether `target` holds a split built with another layout (rebuilding would delete it)."""
    try:
        data = json.loads((target / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    return not _same_layout(data, layout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="build the evaluation corpus")
    parser.add_argument("directory", type=Path, nargs="?", default=DEFAULT_DIR)
    parser.add_argument("--split", choices=[*SPLITS, "both"], default="both")
    parser.add_argument(
        "--quick", action="store_true", help="a few files per split (the smoke test)"
    )
    more = parser.add_mutually_exclusive_group()
    more.add_argument(
        "--more-clips",
        type=int,
        metavar="SEED",
        help="build DIR/tune-SEED: every non-English tuning sentence once more",
    )
    more.add_argument(
        "--more-long",
        type=int,
        metavar="SEED",
        help="build DIR/tune-SEED: three long English files (6, 8 and 10 min) of tuning sentences",
    )
    args = parser.parse_args(argv)
    for seed, layout in ((args.more_clips, MORE_CLIPS), (args.more_long, MORE_LONG)):
        if seed is not None:
            split = f"tune-{seed}"
            if _built_otherwise(args.directory / split, layout):
                raise SystemExit(
                    f"{args.directory / split} holds files of the other kind (--more-clips or "
                    "--more-long) from this seed: choose another SEED"
                )
            files = build_split(split, args.directory, layout)
            print(f"{split}: {describe(files)}, in {args.directory / split}")
            return 0
    splits = tuple(SPLITS) if args.split == "both" else (args.split,)
    for split in splits:
        files = build_split(split, args.directory, QUICK if args.quick else FULL)
        print(f"{split}: {describe(files)}, in {args.directory / split}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
