"""The language benchmark's time table sets each row against the article's median over its
seeded runs, not its first run (the article's seed 1 ran a third longer on the held-out split)."""

from __future__ import annotations

from bench.corpus import CorpusFile
from bench.engines import ARTICLE
from bench.languages import LanguageRow, timing


def _row(name: str, seconds: list[list[float]]) -> LanguageRow:
    return LanguageRow(name, {}, [], {}, {}, 0, 0, seconds)


def test_the_article_is_set_against_by_its_median_run_and_its_spread_is_shown() -> None:
    files = [
        CorpusFile("it-short-00.wav", "short", "it"),
        CorpusFile("mixed.wav", "mixed", "mixed"),
    ]
    # per run, per file: the article's first run is its slowest, on the mixed file
    article = _row(ARTICLE, [[2.0, 7.0], [2.0, 3.0], [2.0, 4.0]])
    default = _row("wasync-default", [[1.0, 2.0]])
    assert article.time_of() == 6.0  # runs of 9, 5 and 6 s
    assert article.time_of([1]) == 4.0
    lines = timing(files, {ARTICLE: article, "wasync-default": default})
    assert (
        "| `article` | 6.0 s [5.0-9.0] (1.00x) | 2.0 s [2.0-2.0] (1.00x) | 4.0 s [3.0-7.0] (1.00x) |"
        in lines
    )
    assert "| `wasync-default` | 3.0 s (2.00x) | 1.0 s (2.00x) | 2.0 s (2.00x) |" in lines


def test_a_selection_with_no_files_is_a_dash() -> None:
    files = [CorpusFile("it-short-00.wav", "short", "it")]
    lines = timing(files, {ARTICLE: _row(ARTICLE, [[2.0], [4.0]])})
    assert "| `article` | 3.0 s [2.0-4.0] (1.00x) | 3.0 s [2.0-4.0] (1.00x) | - |" in lines
