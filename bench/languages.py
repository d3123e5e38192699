"""Language detection and accuracy on non-English speech, with the multilingual base model.

    python -m bench.languages [--runs 3] [--corpus DIR] [--quick]

The held-out split's Japanese (kokoro, five voices), Italian (festival and espeak-ng) and Russian
(festival) clips, and its long file whose language changes every section, through both engines
and every decoding mode, with `language` left to detection. Japanese is scored by character error
rate (CER), the others by word error rate after whisper's basic normaliser. The article's setup
runs once per seed; the wasync rows decode greedily or by beam search and run once.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import corpus, scoring
from bench.engines import ARTICLE, SPLIT_HELP, UNFROZEN, describe, run_interleaved
from bench.metrics import CJK_LANGUAGES

CONFIGS = {
    ARTICLE: "openai-whisper, `model.transcribe(path)`, defaults (the article's setup)",
    "wasync-openai": "wasync's openai engine, greedy",
    "wasync-openai-beam5": "wasync's openai engine, beam search 5",
    "wasync-default": "wasync's default: faster engine, batched path (`batch_size` 2 on CPU, 8 on GPU), greedy",
    "faster-sequential": "faster engine, sequential (`batch_size=1`)",
    "faster-beam5": "faster engine, sequential, beam search 5",
}
NAMES = {"ja": "Japanese", "it": "Italian", "ru": "Russian", "en": "English"}
LOST_SHARE = 0.5  # a section with more of its words deleted than this counts as lost


def unit(language: str) -> str:
    return "CER" if language in CJK_LANGUAGES else "WER"


@dataclass
class LanguageRow:
    name: str
    detected: dict[str, tuple[int, int]]  # language -> (correct, files), over every run
    wrong: list[str]  # "file: detected xx"
    rate: dict[str, float]  # language -> median error rate over runs (short clips)
    mixed_rate: dict[str, float]  # language -> median error rate in the mixed file's sections
    lost_sections: int  # max over runs: sections of the mixed file mostly deleted
    sections: int
    seconds: list[list[float]]  # per run, per file

    def run_times(self, files: Iterable[int] | None = None) -> list[float]:
        """Each run's time for these files (by index; all by default)."""
        picked = list(range(len(self.seconds[0]))) if files is None else list(files)
        return [sum(run[i] for i in picked) for run in self.seconds]

    def time_of(self, files: Iterable[int] | None = None) -> float:
        """The median over runs of these files' time. The article's runs seed its temperature
        fallback differently and differ in time by up to a third, so its median is the
        baseline, not the one run whose seed a row run once shares."""
        return float(statistics.median(self.run_times(files)))

    def spread(self, files: Iterable[int] | None = None) -> str:
        """The spread of the runs' times, " [min-max]"; nothing after a single run."""
        times = self.run_times(files)
        return f" [{min(times):.1f}-{max(times):.1f}]" if len(times) > 1 else ""


def _sections(item: scoring.Scored) -> list[list[int]]:
    """Reference positions of each same-language section of a mixed file."""
    sections: list[list[int]] = []
    previous = None
    for position, owner in enumerate(item.owners):
        sentence = item.file.sentences[owner]
        key = (sentence.voice, sentence.language)
        if key != previous:
            sections.append([])
            previous = key
        sections[-1].append(position)
    return sections


def summarise(
    name: str, files: list[corpus.CorpusFile], results: list[dict[str, Any]]
) -> LanguageRow:
    shorts = [i for i, f in enumerate(files) if f.kind == "short"]
    mixed = [i for i, f in enumerate(files) if f.kind == "mixed"]
    languages = sorted({files[i].language for i in shorts})
    detected = {}
    wrong: list[str] = []
    for language in languages:
        indices = [i for i in shorts if files[i].language == language]
        correct = sum(r["languages"][i] == language for r in results for i in indices)
        detected[language] = (correct, len(indices) * len(results))
        for r in results:
            wrong += [
                f"{files[i].name}: {r['languages'][i]}"
                for i in indices
                if r["languages"][i] != language
            ]
    scored = [
        [scoring.score(f, t) for f, t in zip(files, r["texts"], strict=True)] for r in results
    ]
    rate = {
        language: statistics.median(
            scoring.rate([run[i] for i in shorts if files[i].language == language])
            for run in scored
        )
        for language in languages
    }
    mixed_rate: dict[str, float] = {}
    lost, count = 0, 0
    for i in mixed:
        mixed_languages = sorted({s.language for s in files[i].sentences})
        for language in mixed_languages:
            mixed_rate[language] = statistics.median(
                scoring.rate([run[i]], scoring.by_language(language)) for run in scored
            )
        for run in scored:
            sections = _sections(run[i])
            count = len(sections)
            mostly_deleted = sum(
                run[i].alignment.deletions(p) > LOST_SHARE * len(p) for p in sections
            )
            lost = max(lost, mostly_deleted)
    seconds = [r["seconds"] for r in results]
    return LanguageRow(name, detected, sorted(set(wrong)), rate, mixed_rate, lost, count, seconds)


def measure(
    configs: list[str],
    runs: int,
    directory: Path,
    device: str,
    workdir: Path,
    split: str = "heldout",
) -> dict[str, Any]:
    from tests.helpers import models
    from whisper_async.serving.ctranslate2_weights import convert_file

    files = [f for f in corpus.split_files(directory, split) if f.language != "en"]
    model_dir = models.assemble_base(workdir / "base")
    (workdir / "openai").mkdir(parents=True, exist_ok=True)
    checkpoint = convert_file(model_dir / "model.bin", workdir / "openai" / "base.pt")
    results = run_interleaved(
        configs, runs, files, device, model_dir, checkpoint, "base",
        once=frozenset(c for c in configs if c.removesuffix(UNFROZEN) != ARTICLE),
    )  # fmt: skip
    rows = {c: summarise(c, files, results[c]) for c in configs}
    return {"files": files, "rows": rows, "split": split}


def table(result: dict[str, Any]) -> str:
    files: list[corpus.CorpusFile] = result["files"]
    rows: dict[str, LanguageRow] = result["rows"]
    shorts = [f for f in files if f.kind == "short"]
    languages = sorted({f.language for f in shorts})
    mixed = [f for f in files if f.kind == "mixed"]
    counts = ", ".join(
        f"{NAMES[lang]} {sum(f.language == lang for f in shorts)} clips ({sum(f.duration for f in shorts if f.language == lang):.0f} s, "
        + ", ".join(sorted({s.voice for f in shorts if f.language == lang for s in f.sentences}))
        + ")"
        for lang in languages
    )
    lines = [f"{corpus.split_title(result.get('split', 'heldout'))}: {counts}."]
    for f in mixed:
        order = []
        for s in f.sentences:
            if not order or order[-1] != s.language:
                order.append(s.language)
        lines[-1] += (
            f" The mixed file {f.name} ({f.duration / 60:.1f} min) speaks, in turn: {', '.join(NAMES[x] for x in order)}."
        )
    header = " | ".join(
        f"{NAMES[lang]} detected | {NAMES[lang]} {unit(lang)}" for lang in languages
    )
    lines += ["", f"| configuration | {header} |", "|---|" + "---|---|" * len(languages)]
    base = rows.get(ARTICLE)
    for name, row in rows.items():
        cells = []
        for lang in languages:
            correct, total = row.detected[lang]
            delta = (
                f" ({row.rate[lang] - base.rate[lang]:+.3f})" if base and name != ARTICLE else ""
            )
            cells.append(f"{correct}/{total} | {row.rate[lang]:.3f}{delta}")
        lines.append(f"| `{name}`: {describe(name, CONFIGS)} | " + " | ".join(cells) + " |")
    if mixed:
        mixed_languages = sorted({s.language for f in mixed for s in f.sentences})
        lines += [
            "",
            "The mixed-language file: error rate per language of its sections (English WER, Japanese CER, ...), "
            f"and sections lost (more than {LOST_SHARE:.0%} of their words deleted; worst run):",
            "",
            "| configuration | "
            + " | ".join(f"{NAMES[x]} {unit(x)}" for x in mixed_languages)
            + " | sections lost |",
            "|---|" + "---|" * (len(mixed_languages) + 1),
        ]
        for name, row in rows.items():
            cells = [f"{row.mixed_rate.get(x, 0):.3f}" for x in mixed_languages]
            lines.append(
                f"| `{name}` | " + " | ".join(cells) + f" | {row.lost_sections} of {row.sections} |"
            )
    lines += ["", *timing(files, rows)]
    misdetected = [f"`{name}`: {', '.join(row.wrong)}" for name, row in rows.items() if row.wrong]
    if misdetected:
        lines += ["", "Wrongly detected: " + "; ".join(misdetected) + "."]
    return "\n".join(lines)


def timing(files: list[corpus.CorpusFile], rows: dict[str, LanguageRow]) -> list[str]:
    """Each row's time, median over its runs (the rows other than the article's run once), set
    against the article's median (as in the goal rows); short clips and the long file apart."""
    shorts = [i for i, f in enumerate(files) if f.kind == "short"]
    longs = [i for i in range(len(files)) if i not in shorts]
    base = rows.get(ARTICLE)
    lines = [
        "Time, median [min-max] over each row's runs (speed-up against the article's median):",
        "",
        "| configuration | all files | short clips | the mixed file |",
        "|---|---|---|---|",
    ]
    for name, row in rows.items():
        cells = []
        for pick in (range(len(files)), shorts, longs):
            if not pick:  # the quick corpus has no mixed file
                cells.append("-")
                continue
            seconds = row.time_of(pick)
            before = base.time_of(pick) if base else 0.0
            ratio = f" ({before / seconds:.2f}x)" if base and seconds else ""
            cells.append(f"{seconds:.1f} s{row.spread(pick)}{ratio}")
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--corpus", type=Path, default=corpus.DEFAULT_DIR)
    parser.add_argument("--quick", action="store_true", help="a tiny corpus (the smoke test)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--split", default="heldout", help=SPLIT_HELP)
    args = parser.parse_args(argv)
    directory = corpus.prepare(args.corpus, args.quick, args.split)
    with tempfile.TemporaryDirectory(prefix="wasync-bench-") as workdir:
        result = measure(
            args.configs.split(","), args.runs, directory, args.device, Path(workdir), args.split
        )
    print(table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
