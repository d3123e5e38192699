"""`make bench` rewrites docs/benchmarks.md; the notes written into it by hand survive."""

from __future__ import annotations

from pathlib import Path

from bench.kept_notes import ORPHANS, keep_notes, notes_by_heading

OLD = """# Benchmarks

## Goals

| goal | 1.5x | missed |

<!-- note -->
Missed because the encoder is the bound.
<!-- /note -->

## 1. Engines

| old table |

<!-- note -->
A run by hand: 2.0x.
<!-- /note -->

## 9. Gone

<!-- note -->
Measured on a machine we no longer have.
<!-- /note -->
"""

NEW = """# Benchmarks

## Goals

| goal | 1.7x | missed |

## 1. Engines

| new table |
"""


def test_notes_go_back_under_their_headings_and_the_tables_are_the_new_ones() -> None:
    merged = keep_notes(NEW, OLD)
    assert "| new table |" in merged and "| old table |" not in merged
    assert "1.7x" in merged and "1.5x" not in merged
    goals, engines = merged.index("## Goals"), merged.index("## 1. Engines")
    assert goals < merged.index("Missed because the encoder") < engines
    assert engines < merged.index("| new table |") < merged.index("A run by hand")
    assert merged.index(ORPHANS) < merged.index("Measured on a machine we no longer have")
    assert "Under `## 9. Gone`" in merged


def test_running_twice_changes_nothing_more() -> None:
    once = keep_notes(NEW, OLD)
    assert keep_notes(NEW, once) == once


def test_a_report_without_notes_before_is_written_as_it_is() -> None:
    assert keep_notes(NEW, "") == NEW


def test_the_real_documents_notes_all_sit_under_headings_the_report_writes() -> None:
    """Every note in docs/benchmarks.md stands under a heading `make bench` writes, so a rerun
    puts it back where it was rather than among the orphans."""
    document = (Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md").read_text()
    run_all = (Path(__file__).resolve().parents[1] / "bench" / "run_all.py").read_text()
    notes = notes_by_heading(document)
    assert notes, "docs/benchmarks.md has no kept notes: `make bench` would drop its explanations"
    generated = run_all + "".join(
        path.read_text() for path in (Path(__file__).resolve().parents[1] / "bench").glob("*.py")
    )
    for heading in notes:
        title = heading.lstrip("#").strip()
        assert title in generated, f"{heading!r} is not a heading make bench writes"
