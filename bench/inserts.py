"""Language runs on files whose language changes: which inserts and sections each design finds.

    python -m bench.inserts [--split heldout|tune] [--runs 1] [--configs default,...] [--quick]

The evaluation corpus has one file whose language changes (bench/corpus.py); this benchmark has
sixteen per split, drawn from the split's seed and built once into bench/.corpus/inserts-SPLIT:
- `insert`: 1.5-3 min in one main language, broken by inserts of 4-14 s in other languages,
  one of them at the very start in some files;
- `turns`: two or three languages taking turns every 20-40 s;
- `one`: one language in several voices (Russian has one), where every run in another
  language is false.
Voices are the corpus's (espeak-ng, flite and festival English; kokoro Japanese; festival and
espeak-ng Italian; festival Russian), with pauses, speeds and background noise drawn per file.

The held-out split speaks sentences that no tuning decision has seen (bench/texts/inserts/
heldout-*.txt, and English from the held-out names of bench/textgen.py); the tuning split speaks
the sentences of the two strangers' trials that found the limits of language runs (2026-12-01).

Each configuration finds the runs of every file (`language_runs`, the part of a transcription
that the designs change; decoding follows the runs). Reported per configuration: the share of
speech inside a run of its own language, the inserts and turns found (at least half of their
speech inside a run of their language), false runs (a language the file does not speak), the
stretches given an encoder pass of their own, and the time to find the runs as a ratio to the
first configuration's, in the same run.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench import corpus, detection, synth, textgen
from bench.metrics import Spread

SPLITS = {"tune": 11, "heldout": 20261201}
VERSION = 2  # bump when a change here changes the audio or the manifest
TEXTS = corpus.TEXTS / "inserts"
FILE_KINDS = ("insert",) * 10 + ("turns",) * 3 + ("one",) * 3
INSERT_SECONDS = (4, 5, 6, 8, 10, 12, 14)
PAUSES = ((0.15, 0.4), (0.4, 0.8), (0.8, 1.2))  # between sentences, drawn per file
# A configuration is a set of the faster engine's language-run settings (serving/engines.py).
CONFIGS: dict[str, dict[str, Any]] = {
    "default": {},
    "sure-chunks-unread": {"stray_above": None},
    "every-stretch": {"refine_below": None},
}


@dataclass(frozen=True)
class Layout:
    kinds: tuple[str, ...]
    languages: tuple[str, ...]
    synthesizers: tuple[str, ...]
    minutes: tuple[float, float]  # how long an `insert` file is, drawn between the two


FULL = Layout(
    FILE_KINDS, ("en", "ja", "it", "ru"), ("espeak", "flite", "festival", "kokoro"), (1.6, 2.8)
)
QUICK = Layout(("insert", "insert"), ("en", "it"), ("espeak",), (0.5, 0.5))


def voices_of(language: str, layout: Layout) -> list[synth.Voice]:
    every = [v for group in synth.ENGLISH_VOICES.values() for v in group]
    every += [v for group in synth.OTHER_VOICES.values() for v in group]
    return [v for v in every if v.language == language and v.synthesizer in layout.synthesizers]


class _Builder:
    def __init__(self, split: str, target: Path, cache: Path, layout: Layout) -> None:
        self.seed = SPLITS[split]
        self.rng = random.Random(self.seed)
        self.noise_rng = np.random.default_rng(self.seed)
        self.target, self.cache, self.layout = target, cache, layout
        held_out = split == "heldout"
        exclude: frozenset[str] = frozenset()
        if not held_out:  # as in the corpus: never a held-out sentence
            exclude = frozenset(itertools.islice(textgen.sentences(SPLITS["heldout"], True), 3000))
        self.sentences: dict[str, Iterator[str]] = {
            "en": textgen.sentences(self.seed, held_out, exclude)
        }
        for language in layout.languages[1:]:
            lines = [
                line.strip()
                for line in (TEXTS / f"{split}-{language}.txt").read_text().splitlines()
            ]
            lines = [line for line in lines if line]
            self.rng.shuffle(lines)
            self.sentences[language] = itertools.cycle(lines)

    def plan(self, kind: str) -> list[tuple[synth.Voice, float]]:
        """The sections of one file: (voice, seconds wanted)."""
        rng, languages = self.rng, self.layout.languages
        if kind == "turns":
            taking = rng.sample(languages, rng.choice((2, 3)))
            voice = {language: rng.choice(voices_of(language, self.layout)) for language in taking}
            order = [taking[i % len(taking)] for i in range(rng.choice((4, 5)))]
            return [(voice[language], rng.uniform(20, 40)) for language in order]
        main = rng.choice((languages[0], *languages))  # English twice as often
        if kind == "one":
            voices = voices_of(main, self.layout)
            speakers = rng.sample(voices, min(3, len(voices)))
            return [
                (speakers[i % len(speakers)], rng.uniform(20, 40)) for i in range(rng.randint(4, 6))
            ]
        speaker = rng.choice(voices_of(main, self.layout))
        others = [language for language in languages if language != main]

        def insert() -> tuple[synth.Voice, float]:
            language = rng.choice(others)
            return rng.choice(voices_of(language, self.layout)), float(rng.choice(INSERT_SECONDS))

        sections = [insert()] if rng.random() < 0.25 else []
        wanted, spoken = rng.uniform(*self.layout.minutes) * 60, 0.0
        while spoken < wanted:
            sections.append((speaker, rng.uniform(12, 40)))
            sections.append(insert())
            spoken += sections[-2][1] + sections[-1][1]
        return [*sections, (speaker, rng.uniform(10, 30))]

    def build(self, index: int, kind: str) -> corpus.CorpusFile:
        rng = self.rng
        sections = self.plan(kind)
        pauses, boundary = rng.choice(PAUSES), rng.choice((0.2, 0.4, 0.6, 0.9))
        speeds = {v: round(rng.uniform(0.9, 1.15), 2) for v, _ in sections}
        noise, snr = rng.choice(corpus.NOISES), round(rng.uniform(*corpus.SNR_RANGE), 1)
        # An insert file's language is its main speaker's, which `score` needs: inserts may add
        # up to more speech than the main language in a short file.
        language = sections[-1][0].language if kind != "turns" else "mixed"
        entry = corpus.CorpusFile(f"{kind}-{index:02d}", kind, language)
        pieces = [self._silence(rng.uniform(0.3, 1.0))]
        cursor = len(pieces[0]) / synth.SAMPLE_RATE
        for number, (voice, wanted) in enumerate(sections):
            if number:
                pieces.append(self._silence(boundary))
                cursor += boundary
            said = 0.0
            while True:
                text = next(self.sentences[voice.language])
                audio = synth.speak(voice, text, speeds[voice], self.cache)
                seconds = len(audio) / synth.SAMPLE_RATE
                if said and said + seconds > wanted + 2.5:
                    break
                if said:
                    gap = rng.uniform(*pauses)
                    pieces.append(self._silence(gap))
                    cursor, said = cursor + gap, said + gap
                pieces.append(audio)
                entry.sentences.append(
                    corpus.Sentence(
                        text,
                        voice.label,
                        voice.language,
                        round(cursor, 3),
                        round(cursor + seconds, 3),
                    )
                )
                cursor, said = cursor + seconds, said + seconds
                if said >= wanted - 1.5:
                    break
        pieces.append(self._silence(rng.uniform(0.3, 1.0)))
        speech = np.concatenate(pieces)
        entry.noise = ["none" if noise == "none" else f"{noise} {snr} dB"]
        return self._write(entry, corpus.add_noise(speech, noise, snr, self.noise_rng))

    def _silence(self, seconds: float) -> np.ndarray:
        return np.zeros(int(seconds * synth.SAMPLE_RATE), np.float32)

    def _write(self, entry: corpus.CorpusFile, audio: np.ndarray) -> corpus.CorpusFile:
        peak = float(np.max(np.abs(audio))) or 1.0
        entry.path = self.target / f"{entry.name}.wav"
        synth.write_wav(entry.path, audio * min(1.0, 0.95 / peak))
        entry.duration = round(len(audio) / synth.SAMPLE_RATE, 2)
        return entry


def split_name(split: str, quick: bool) -> str:
    return f"inserts-{split}" + ("-quick" if quick else "")


def ensure_built(directory: Path, split: str, quick: bool) -> list[corpus.CorpusFile]:
    """The split's files, synthesised into `directory/inserts-SPLIT` unless built already."""
    layout = QUICK if quick else FULL
    name = split_name(split, quick)
    manifest = directory / name / "manifest.json"
    try:
        if not _built(manifest):
            _build(directory / name, directory, split, layout)
        return corpus.load_split(directory, name)
    except OSError as error:
        raise SystemExit(f"cannot build or read the insert files in {directory}: {error}") from None


def _built(manifest: Path) -> bool:
    """Whether `manifest` is a readable one written by this version of this file and the
    corpus's; anything else is built again."""
    try:
        data = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return False
    return bool(data.get("inserts") == VERSION and data.get("version") == corpus.VERSION)


def _build(target: Path, directory: Path, split: str, layout: Layout) -> None:
    missing = synth.missing_tools(layout.synthesizers)
    if missing:
        raise SystemExit(
            f"the insert files need {', '.join(missing)}: run `bash bench/system-deps.sh`"
        )
    print(f"building {target} ...", file=sys.stderr, flush=True)
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    builder = _Builder(split, target, directory / ".sentences", layout)
    files = [builder.build(i, kind) for i, kind in enumerate(layout.kinds)]
    data = {"version": corpus.VERSION, "inserts": VERSION, "split": split, "seed": SPLITS[split]}
    data["files"] = [corpus.entry_json(f) for f in files]
    (target / "manifest.json").write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")


# --- scoring -----------------------------------------------------------------------------------

Run = tuple[float, float, str]  # start, end, language


@dataclass(frozen=True)
class Section:
    start: float
    end: float
    language: str
    speech: list[tuple[float, float]]  # its sentences


def sections_of(entry: corpus.CorpusFile) -> list[Section]:
    """Neighbouring sentences of one language and voice, as the file was built."""
    found: list[Section] = []
    for _, group in itertools.groupby(entry.sentences, key=lambda s: (s.language, s.voice)):
        said = list(group)
        speech = [(s.start, s.end) for s in said]
        found.append(Section(said[0].start, said[-1].end, said[0].language, speech))
    return found


def covered(runs: list[Run], spans: list[tuple[float, float]], language: str) -> float:
    """Seconds of `spans` inside runs of `language`."""
    return sum(
        max(0.0, min(end, run_end) - max(start, run_start))
        for start, end in spans
        for run_start, run_end, found in runs
        if found == language
    )


@dataclass
class Score:
    speech: float = 0.0
    right: float = 0.0  # seconds of speech inside a run of its own language
    inserts: int = 0
    inserts_found: int = 0
    turns: int = 0
    turns_found: int = 0
    false_runs: int = 0
    false_seconds: float = 0.0
    missed: list[str] = field(default_factory=list)  # sections not found

    def add(self, other: Score) -> None:
        for name in ("speech", "right", "inserts", "inserts_found", "turns", "turns_found"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.false_runs += other.false_runs
        self.false_seconds += other.false_seconds


def score(entry: corpus.CorpusFile, runs: list[Run]) -> Score:
    sections = sections_of(entry)
    spoken: dict[str, float] = {}
    for s in entry.sentences:
        spoken[s.language] = spoken.get(s.language, 0.0) + s.end - s.start
    main = entry.language  # the main speaker's, in an insert file
    result = Score()
    for section in sections:
        length = sum(end - start for start, end in section.speech)
        inside = covered(runs, section.speech, section.language)
        result.speech += length
        result.right += inside
        counted = entry.kind == "turns" or (entry.kind == "insert" and section.language != main)
        if not counted:
            continue
        found = inside >= 0.5 * length
        if entry.kind == "turns":
            result.turns, result.turns_found = result.turns + 1, result.turns_found + found
        else:
            result.inserts, result.inserts_found = result.inserts + 1, result.inserts_found + found
        if not found:
            result.missed.append(f"{section.language} {section.start:.0f}-{section.end:.0f} s")
    false = [(a, b, lang) for a, b, lang in runs if lang not in spoken]
    result.false_runs = len(false)
    result.false_seconds = sum(b - a for a, b, _ in false)
    return result


# --- measuring ---------------------------------------------------------------------------------


def measure(
    files: list[corpus.CorpusFile], configs: list[str], runs: int, workdir: Path
) -> dict[str, Any]:
    from whisper_async.serving.audio import decode_audio

    engine = detection.counting_engine(workdir)
    defaults = {name: getattr(engine, name) for values in CONFIGS.values() for name in values}
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    warm = decode_audio(files[0].path)  # untimed: the first call pays CTranslate2's warm-up
    engine.language_runs(warm, engine.speech_plan(warm)[0])
    for f in files:
        audio = decode_audio(f.path)
        regions, _ = engine.speech_plan(audio)
        for run in range(runs):
            for config in configs:
                for name, value in {**defaults, **CONFIGS[config]}.items():
                    setattr(engine, name, value)
                engine.stretch_passes = 0
                started = time.perf_counter()
                found = engine.language_runs(audio, regions) if regions else []
                row = rows.setdefault((f.name, config), {"seconds": []})
                row["seconds"].append(time.perf_counter() - started)
                row["runs"] = [(r.start, r.end, r.language) for r in found]
                row["passes"] = engine.stretch_passes
                print(f"  {f.name} {config} run {run + 1}/{runs}", file=sys.stderr, flush=True)
    return {"files": files, "configs": configs, "rows": rows, "runs": runs}


def report(result: dict[str, Any]) -> str:
    files, configs, rows = result["files"], result["configs"], result["rows"]
    audio = sum(f.duration for f in files)
    lines = [
        f"{len(files)} files, {audio / 60:.1f} min; time: the sum over files of the median of "
        f"{result['runs']} run(s), as a ratio to `{configs[0]}`'s in the same run.",
        "",
        "| configuration | speech in its language | inserts found | turns found | false runs | "
        "stretch passes | finding the runs | time vs first |",
        "|---|---|---|---|---|---|---|---|",
    ]
    baseline = sum(Spread.of(rows[(f.name, configs[0])]["seconds"]).median for f in files)
    for config in configs:
        total = Score()
        for f in files:
            total.add(score(f, rows[(f.name, config)]["runs"]))
        seconds = sum(Spread.of(rows[(f.name, config)]["seconds"]).median for f in files)
        passes = sum(rows[(f.name, config)]["passes"] for f in files)
        lines.append(
            f"| `{config}` | {total.right / total.speech:.1%} | {total.inserts_found}/{total.inserts} "
            f"| {total.turns_found}/{total.turns} | {total.false_runs} ({total.false_seconds:.0f} s) "
            f"| {passes} | {seconds:.1f} s | {seconds / baseline:.2f}x |"
        )
    lines += [
        "",
        f"Per file, `{configs[0]}`:",
        "",
        "| file | min | sections | speech in its language | missed | false runs |",
        "|---|---|---|---|---|---|",
    ]
    for f in files:
        runs = rows[(f.name, configs[0])]["runs"]
        one = score(f, runs)
        sections = " ".join(f"{s.language} {s.end - s.start:.0f}" for s in sections_of(f))
        false = ", ".join(
            f"{lang} {b - a:.0f} s"
            for a, b, lang in runs
            if lang not in {s.language for s in f.sentences}
        )
        lines.append(
            f"| {f.name} | {f.duration / 60:.1f} | {sections} | {one.right / one.speech:.1%} "
            f"| {', '.join(one.missed) or '-'} | {false or '-'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--split", choices=sorted(SPLITS), default="heldout")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument(
        "--configs", default="default,sure-chunks-unread", help=f"of {', '.join(CONFIGS)}"
    )
    parser.add_argument("--corpus", type=Path, default=corpus.DEFAULT_DIR)
    parser.add_argument(
        "--quick", action="store_true", help="two espeak-ng files of about a minute"
    )
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error(f"--runs must be at least 1, not {args.runs}")
    configs = args.configs.split(",")
    unknown = [repr(c) for c in configs if c not in CONFIGS]
    if unknown:
        parser.error(
            f"unknown configuration {', '.join(unknown)}: choose from {', '.join(CONFIGS)}"
        )
    files = ensure_built(args.corpus, args.split, args.quick)
    with tempfile.TemporaryDirectory(prefix="wasync-bench-") as workdir:
        print(report(measure(files, configs, args.runs, Path(workdir))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
