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
