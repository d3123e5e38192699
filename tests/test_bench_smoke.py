"""Each benchmark runs at a tiny size, so none of them rots. No timing is asserted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def run(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", *args], capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_every_benchmark_runs_at_a_tiny_size_and_renders_the_report() -> None:
    out = run("bench.run_all", "--quick")
    for config in (
        "article",
        "openai-beam5",
        "wasync-default",
        "faster-batched",
        "faster-beam5",
    ):
        assert f"`{config}`" in out
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
    ):
        assert measure in out
    assert "| goal | measured | verdict |" in out


def test_gpu_script_is_valid_bash_and_names_the_cuda_configs() -> None:
    subprocess.run(["bash", "-n", "bench/gpu.sh"], check=True)
    text = Path("bench/gpu.sh").read_text()
    assert "--device cuda" in text and "int8_float16" in text
