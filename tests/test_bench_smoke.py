"""Each benchmark runs at a tiny size, so none of them rots. No timing is asserted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

# Every benchmark at a tiny size still starts a dozen processes: on a loaded 2-core machine that
# took over 10 minutes, so the limit is a guard against a hang, not a measure of speed.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


def run(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", *args], capture_output=True, text=True, timeout=1800
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_every_benchmark_runs_at_a_tiny_size_and_renders_the_report() -> None:
    out = run("bench.run_all", "--quick")
    for config in (
        "article",
        "wasync-default",
        "faster-sequential",
        "stock-batched",
        "wasync-openai",
    ):
        assert f"`{config}`" in out
    for figure in ("runs >= 3", "Italian detected", "Silero VAD", "The evaluation corpus"):
        assert figure in out
    for measure in (
        "overhead",
        "p99",
        "growth",
        "cold start, openai",
        "plain boto3",
        "S3 requests per job",
        "Ctrl-C",
        "kill -9",
        "model created on",
        "ratio to `python -c pass`",
        "from zero: phase",
        "instance-seconds",
        "30 min windows",
        "over the 4 h default limit",
        "quiet hiss",
    ):
        assert measure in out
    assert "| goal | measured | verdict |" in out


def test_gpu_script_is_valid_bash_and_names_the_cuda_configs() -> None:
    subprocess.run(["bash", "-n", "bench/gpu.sh"], check=True)
    text = Path("bench/gpu.sh").read_text()
    assert "--device cuda" in text and "int8_float16" in text


def test_the_insert_benchmark_scores_inserts_turns_and_false_runs() -> None:
    from bench import corpus, inserts

    def said(language: str, voice: str, start: float, end: float) -> corpus.Sentence:
        return corpus.Sentence("", voice, language, start, end)

    entry = corpus.CorpusFile(
        "insert-00",
        "insert",
        "en",  # the main speaker's language
        [
            said("en", "espeak:en-us", 0, 20),
            said("it", "espeak:it", 21, 27),
            said("en", "espeak:en-us", 28, 50),
            said("ja", "kokoro:jf_alpha", 51, 55),
            said("en", "espeak:en-us", 56, 70),
        ],
    )
    runs = [(0.0, 21.0, "en"), (21.0, 25.0, "it"), (25.0, 60.0, "en"), (60.0, 70.0, "th")]
    found = inserts.score(entry, runs)
    assert (found.inserts, found.inserts_found) == (2, 1)  # 4 of Italian's 6 s; no Japanese run
    assert found.missed == ["ja 51-55 s"]
    assert (found.false_runs, found.false_seconds) == (1, 10.0)
    assert found.right == 20 + 4 + 22 + 4  # the English after 60 s is inside the Thai run
    # The main language is the main speaker's, even where the inserts outlast it.
    italian_inserts = [
        said("it", "espeak:it", 0, 14),
        said("en", "espeak:en-us", 15, 27),
        said("it", "espeak:it", 28, 42),
        said("en", "espeak:en-us", 43, 53),
    ]
    short = corpus.CorpusFile("insert-01", "insert", "en", italian_inserts)
    all_english = inserts.score(short, [(0.0, 53.0, "en")])
    assert (all_english.inserts, all_english.inserts_found) == (2, 0)
    turns = corpus.CorpusFile("turns-00", "turns", "mixed", entry.sentences[:3])
    assert (inserts.score(turns, runs).turns, inserts.score(turns, runs).turns_found) == (3, 3)


def test_the_insert_benchmark_builds_its_files_and_renders_the_report(tmp_path: Path) -> None:
    out = run("bench.inserts", "--quick", "--corpus", str(tmp_path))
    assert "| `default` |" in out and "| `sure-chunks-unread` |" in out
    assert "inserts found" in out and "insert-01" in out
    manifest = tmp_path / "inserts-heldout-quick" / "manifest.json"
    assert manifest.is_file() and (tmp_path / "inserts-heldout-quick" / "insert-00.wav").is_file()
