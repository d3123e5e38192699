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
    ):
        assert measure in out
    assert "| goal | measured | verdict |" in out


def test_gpu_script_is_valid_bash_and_names_the_cuda_configs() -> None:
    subprocess.run(["bash", "-n", "bench/gpu.sh"], check=True)
    text = Path("bench/gpu.sh").read_text()
    assert "--device cuda" in text and "int8_float16" in text
