"""Written notes in docs/benchmarks.md that `make bench` keeps when it rewrites the file.

A note is text between `<!-- note -->` and `<!-- /note -->` lines: why a goal was missed, a
run made by hand, what a figure means. The tables around it are regenerated; the note is put
back at the end of the section whose heading it stood under, in its old order. A note whose
heading the new report no longer has goes under ORPHANS at the end, so none is ever lost.
"""

from __future__ import annotations

import re

OPEN = "<!-- note -->"
CLOSE = "<!-- /note -->"
ORPHANS = "## Notes whose section is gone"
_HEADING = re.compile(r"^#{1,6} ")
_NOTE = re.compile(rf"^{re.escape(OPEN)}\n.*?^{re.escape(CLOSE)}\n", re.DOTALL | re.MULTILINE)


def notes_by_heading(document: str) -> dict[str, list[str]]:
    """Each note of `document` (markers included), under the heading it follows ("" before any)."""
    found: dict[str, list[str]] = {}
    heading = ""
    position = 0
    for note in _NOTE.finditer(document):
        for line in document[position : note.start()].splitlines():
            if _HEADING.match(line):
                heading = line.strip()
        found.setdefault(heading, []).append(note.group(0))
        position = note.end()
    return found


def keep_notes(report: str, previous: str) -> str:
    """`report` with the notes of `previous` put back under their headings."""
    notes = notes_by_heading(previous)
    if not notes:
        return report
    out: list[str] = []
    heading = ""

    def flush() -> None:
        for note in notes.pop(heading, []):
            if out and out[-1].strip():
                out.append("")
            out.extend(note.rstrip("\n").splitlines())
            out.append("")

    for line in report.splitlines():
        if _HEADING.match(line):
            flush()
            heading = line.strip()
        out.append(line)
    flush()
    if notes:
        out += ["", ORPHANS, ""]
        for old_heading, kept in notes.items():
            for note in kept:
                if old_heading != ORPHANS:  # say where it stood, inside the note: kept next time
                    body = note[len(OPEN) + 1 :]
                    note = f"{OPEN}\nUnder `{old_heading or '(the top)'}`:\n\n{body}"
                out.extend(note.rstrip("\n").splitlines())
                out.append("")
    return "\n".join(out).rstrip("\n") + "\n"
