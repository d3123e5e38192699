"""Shared measuring code for benchmarks and tests: word error rate, timing, peak memory."""

from __future__ import annotations

import resource
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def normalise(text: str) -> str:
    from whisper.normalizers import EnglishTextNormalizer

    return str(EnglishTextNormalizer()(text))


def word_error_rate(
    references: Sequence[str], hypotheses: Sequence[str], normalised: bool = True
) -> float:
    """Corpus WER; with `normalised`, after whisper's English text normaliser."""
    import jiwer

    if normalised:
        references = [normalise(r) for r in references]
        hypotheses = [normalise(h) for h in hypotheses]
    else:
        references = [r.lower() for r in references]
        hypotheses = [h.lower() for h in hypotheses]
    return float(jiwer.wer(list(references), list(hypotheses)))


def reference_path(audio: Path) -> Path:
    """The reference transcript that sits beside a clip (`clip.wav.txt`, else `clip.txt`)."""
    for candidate in (audio.with_name(audio.name + ".txt"), audio.with_suffix(".txt")):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"no reference transcript beside {audio}")


def reference_text(audio: Path) -> str:
    return reference_path(audio).read_text().strip()


@dataclass(frozen=True)
class Spread:
    """Median, min and max of repeated measurements: seconds, or a WER per run."""

    median: float
    minimum: float
    maximum: float
    runs: int

    @classmethod
    def of(cls, samples: Sequence[float]) -> Spread:
        ordered = sorted(samples)
        return cls(statistics.median(ordered), ordered[0], ordered[-1], len(ordered))

    def ratio_to(self, baseline: Spread) -> float:
        return baseline.median / self.median if self.median else float("inf")


def time_runs(fn: Callable[[], Any], runs: int = 3, warmup: int = 0) -> tuple[Spread, Any]:
    """Run `fn` several times; return the timing summary and the last result."""
    result = None
    for _ in range(warmup):
        result = fn()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        samples.append(time.perf_counter() - started)
    return Spread.of(samples), result


def peak_rss_mib(pid: int | None = None) -> float:
    """Peak resident memory (VmHWM) of a process, or of this one, in MiB."""
    if pid is None:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for pid {pid}")


# --- alignment: which reference words a transcript lost -------------------------------------

CJK_LANGUAGES = {"ja", "zh", "yue"}


def _is_cjk(char: str) -> bool:
    code = ord(char)
    return (
        0x3040 <= code <= 0x30FF  # kana
        or 0x3400 <= code <= 0x9FFF  # CJK ideographs
        or 0xF900 <= code <= 0xFAFF
        or 0xFF66 <= code <= 0xFF9F  # half-width kana
    )


def tokens(text: str, language: str) -> list[str]:
    """The units errors are counted in: words after whisper's normaliser (English's for "en"),
    characters for Japanese and Chinese. "mixed" splits CJK text into characters and the rest
    into words, for files whose language changes."""
    if language == "en":
        return normalise(text).split()
    from whisper.normalizers import BasicTextNormalizer

    basic = str(BasicTextNormalizer()(text))
    if language in CJK_LANGUAGES:
        return [c for c in basic if not c.isspace()]
    found: list[str] = []
    for word in basic.split():
        if language == "mixed" and any(_is_cjk(c) for c in word):
            found += [c for c in word if not c.isspace()]
        else:
            found.append(word)
    return found


@dataclass(frozen=True)
class Alignment:
    """Each reference token's fate (equal, substitute, delete) and insertions after it."""

    operations: tuple[str, ...]
    insertions: tuple[int, ...]  # inserted tokens after reference position i (index -1 -> 0)

    @classmethod
    def of(cls, reference: Sequence[str], hypothesis: Sequence[str]) -> Alignment:
        import jiwer

        operations = ["equal"] * len(reference)
        insertions = [0] * len(reference)
        if not reference:
            return cls((), ())
        if not hypothesis:
            return cls(tuple(["delete"] * len(reference)), tuple(insertions))
        # Tokens are joined by spaces for jiwer; no token contains a space.
        output = jiwer.process_words(" ".join(reference), " ".join(hypothesis))
        for chunk in output.alignments[0]:
            if chunk.type == "insert":
                insertions[max(0, chunk.ref_start_idx - 1)] += (
                    chunk.hyp_end_idx - chunk.hyp_start_idx
                )
            else:
                for index in range(chunk.ref_start_idx, chunk.ref_end_idx):
                    operations[index] = chunk.type
        return cls(tuple(operations), tuple(insertions))

    def errors(self, positions: Sequence[int] | None = None) -> tuple[int, int]:
        """(errors, reference tokens) over the given reference positions (all by default)."""
        chosen = range(len(self.operations)) if positions is None else positions
        wrong = sum((self.operations[i] != "equal") + self.insertions[i] for i in chosen)
        return wrong, len(chosen)

    def deletions(self, positions: Sequence[int] | None = None) -> int:
        chosen = range(len(self.operations)) if positions is None else positions
        return sum(self.operations[i] == "delete" for i in chosen)

    def deletion_runs(self, minimum: int = 3) -> list[tuple[int, int]]:
        """[start, end) of each run of at least `minimum` consecutive deleted reference tokens."""
        runs, start = [], None
        for index, operation in enumerate([*self.operations, "end"]):
            if operation == "delete":
                start = index if start is None else start
            elif start is not None:
                if index - start >= minimum:
                    runs.append((start, index))
                start = None
        return runs


def error_rate(alignments: Sequence[tuple[Alignment, Sequence[int] | None]]) -> float:
    """Errors over reference tokens, pooled over (alignment, positions) pairs."""
    wrong = total = 0
    for alignment, positions in alignments:
        w, t = alignment.errors(positions)
        wrong, total = wrong + w, total + t
    return wrong / total if total else 0.0


def verdict(ok: bool) -> str:
    """A goal's verdict in docs/benchmarks.md."""
    return "met" if ok else "**missed**"
