"""Issue 18's part of `make bench` on its own: the engines and the languages on the held-out
split, the fixed cost of one short request, and the accuracy goals. Prints the same goal rows and
sections 1-3 as docs/benchmarks.md; `make bench` runs this too.

    python -m bench.accuracy [--runs 3] [--cost-runs 5] [--quick] [--output FILE]

Build the corpus first (`bash bench/system-deps.sh && python -m bench.corpus`).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import corpus, detection, engines, fixed_cost, languages
from bench.metrics import verdict


@dataclass(frozen=True)
class Accuracy:
    runs: int
    cost_runs: int
    english: engines.Result
    language: dict[str, Any]
    detection: dict[str, Any]
    cost: dict[str, Any]


def measure(runs: int, cost_runs: int, directory: Path, workdir: Path, quick: bool) -> Accuracy:
    print("engines ...", file=sys.stderr, flush=True)
    english = engines.measure(
        list(engines.CONFIGS),
        runs,
        directory,
        "cpu",
        workdir / "engines",
        once=frozenset({"stock-batched"}),  # a reference row: one run shows its losses
    )
    print("languages ...", file=sys.stderr, flush=True)
    language_configs = list(languages.CONFIGS)
    if quick:  # the smoke test: each engine once
        language_configs = [engines.ARTICLE, "wasync-openai", engines.DEFAULT]
    language = languages.measure(language_configs, runs, directory, "cpu", workdir / "languages")
    print("detection on long files ...", file=sys.stderr, flush=True)
    found = detection.measure(runs, directory, workdir / "detection")
    print("fixed cost ...", file=sys.stderr, flush=True)
    cost = fixed_cost.measure(cost_runs, directory, workdir / "cost")
    return Accuracy(runs, cost_runs, english, language, found, cost)


def goals(measured: Accuracy, candidate: str = engines.DEFAULT) -> list[str]:
    """Issue 18's goals for the default engine on the held-out split, met or missed: rows of the
    goals table in docs/benchmarks.md."""
    english, language = measured.english, measured.language
    rows = english.rows
    base, default = rows[engines.ARTICLE], rows[candidate]
    lang_rows = language["rows"]
    # Speed over the whole held-out split: English (tiny.en) and the other languages (base).
    # Medians over runs, as for English: the article's runs differ by a third with their seeds.
    lang_base = lang_rows[engines.ARTICLE].time_of() if engines.ARTICLE in lang_rows else 0.0
    lang_default = lang_rows[candidate].time_of() if candidate in lang_rows else 0.0
    speed = (base.timing.median + lang_base) / (default.timing.median + lang_default)
    english_speed = default.timing.ratio_to(base.timing)
    wer_delta = default.wer.median - base.wer.median
    worst = max(
        default.wer_by_synthesizer,
        key=lambda s: default.wer_by_synthesizer[s] - base.wer_by_synthesizer[s],
    )
    worst_delta = default.wer_by_synthesizer[worst] - base.wer_by_synthesizer[worst]
    unshared = engines.unshared_runs(default, base)
    detection = lang_rows[candidate].detected
    correct = sum(c for c, _ in detection.values())
    total = sum(t for _, t in detection.values())
    rates = ", ".join(
        f"{languages.NAMES[x]} {languages.unit(x)} {lang_rows[candidate].rate[x]:.3f} vs {lang_rows[engines.ARTICLE].rate[x]:.3f}"
        for x in sorted(detection)
    )
    parts = f"English alone {english_speed:.2f}x"
    if lang_default:
        parts += f", the languages {lang_base / lang_default:.2f}x"
    lost = f"{len(unshared)}" + (f" ({'; '.join(unshared)})" if unshared else "")
    lines = [
        f"| default engine >= 3x the article's speed over the whole held-out split | {speed:.2f}x ({parts}) | {verdict(speed >= 3)} |",
        f"| WER no worse than the article's on the held-out split (+0.005 tolerance; medians over seeds) | {wer_delta:+.3f} | {verdict(wer_delta <= 0.005)} |",
        f"| ... and on each synthesizer's part | worst: {worst} {worst_delta:+.3f} | {verdict(worst_delta <= 0.005)} |",
        f"| no run of >= 3 deleted words that the article does not also have | {lost} | {verdict(not unshared)} |",
        f"| language detection correct on every non-English file | {correct}/{total} | {verdict(correct == total)} |",
        f"| CER/WER per language, default vs the article | {rates} | reported |",
    ]
    return lines


def sections(measured: Accuracy) -> list[str]:
    """Sections 1-3 of docs/benchmarks.md."""
    return [
        "## 1. Engines on the held-out split: speed, accuracy, boundary loss (CPU)",
        "",
        f"`python -m bench.engines --runs {measured.runs}`. Baseline: the article's setup; run i seeds torch and "
        "CTranslate2 with i, so the article's temperature fallback samples the same way in every invocation. "
        "RTF = processing seconds / audio seconds. WER after whisper's `EnglishTextNormalizer`. "
        "Peak RSS of each configuration's own process.",
        "",
        engines.table(measured.english, engines.ARTICLE),
        "",
        "## 2. Languages (multilingual base model)",
        "",
        f"`python -m bench.languages --runs {measured.runs}`: `language` is left to detection in every row.",
        "",
        languages.table(measured.language),
        "",
        "### Language detection on long files: what it costs",
        "",
        f"`python -m bench.detection --runs {measured.runs}` (base, int8, CPU; `language` left to detection).",
        "",
        detection.report(measured.detection),
        "",
        "## 3. One request on a short file: the fixed cost",
        "",
        f"`python -m bench.fixed_cost --runs {measured.cost_runs}` (tiny.en, int8, CPU; language detection with base).",
        "",
        fixed_cost.report(measured.cost),
        "",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cost-runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="the quick corpus, one run")
    parser.add_argument("--output", type=Path, help="write the markdown here instead of stdout")
    args = parser.parse_args(argv)
    runs, cost_runs = (1, 1) if args.quick else (args.runs, args.cost_runs)
    directory = corpus.prepare(corpus.DEFAULT_DIR, args.quick)
    with tempfile.TemporaryDirectory(prefix="wasync-accuracy-") as workdir:
        measured = measure(runs, cost_runs, directory, Path(workdir), args.quick)
    text = "\n".join(
        [
            "## Goals (issue 18)",
            "",
            "| goal | measured | verdict |",
            "|---|---|---|",
            *goals(measured),
            "",
            *sections(measured),
        ]
    )
    if args.output:
        args.output.write_text(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
