"""Transcripts scored against the corpus's references: error rates per file, per synthesizer and
per language, and the deletions that show a lost phrase."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench.corpus import CorpusFile, Sentence
from bench.metrics import Alignment, error_rate, tokens


@dataclass(frozen=True)
class Scored:
    file: CorpusFile
    alignment: Alignment
    owners: tuple[int, ...]  # the sentence each reference token belongs to

    def positions(self, keep: Callable[[Sentence], bool]) -> list[int]:
        return [i for i, owner in enumerate(self.owners) if keep(self.file.sentences[owner])]

    @property
    def deletions(self) -> int:
        return self.alignment.deletions()

    @property
    def runs(self) -> list[tuple[int, int]]:
        return self.alignment.deletion_runs(3)


def reference_tokens(file: CorpusFile) -> tuple[list[str], list[int]]:
    """The file's reference tokens, sentence by sentence, and which sentence each came from."""
    found: list[str] = []
    owners: list[int] = []
    for index, sentence in enumerate(file.sentences):
        words = tokens(sentence.text, file.language)
        found += words
        owners += [index] * len(words)
    return found, owners


def score(file: CorpusFile, transcript: str) -> Scored:
    reference, owners = reference_tokens(file)
    hypothesis = tokens(transcript, file.language)
    return Scored(file, Alignment.of(reference, hypothesis), tuple(owners))


def rate(scored: Sequence[Scored], keep: Callable[[Sentence], bool] = lambda s: True) -> float:
    """Errors over reference tokens of the sentences `keep` selects, pooled over files."""
    return error_rate([(s.alignment, s.positions(keep)) for s in scored])


def by_synthesizer(name: str) -> Callable[[Sentence], bool]:
    return lambda sentence: sentence.voice.split(":")[0] == name


def by_language(code: str) -> Callable[[Sentence], bool]:
    return lambda sentence: sentence.language == code


def lost_phrases(scored: Scored) -> list[str]:
    """The reference words of each run of three or more deleted words, as text."""
    reference, _ = reference_tokens(scored.file)
    return [" ".join(reference[start:end]) for start, end in scored.runs]


def shared_run(run: tuple[int, int], others: Sequence[Alignment]) -> bool:
    """Whether any of `others` (the baseline's runs, one per seed) also deleted at least half of
    the words of `run`: a phrase the baseline loses too is not a loss of the candidate's."""
    start, end = run
    return any(
        sum(other.operations[i] == "delete" for i in range(start, end)) * 2 >= end - start
        for other in others
    )
