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


def test_engine_benchmark_runs_every_configuration() -> None:
    out = run("bench.engines", "--runs", "1", "--long-repeats", "1")
    for config in ("article", "openai-beam5", "wasync-default", "faster-beam5", "faster-batched"):
        assert f"`{config}`" in out


def test_serving_benchmark_reports_each_measure() -> None:
    out = run("bench.serving", "--runs", "1", "--body-mib", "8", "--long-repeats", "1")
    assert "overhead" in out and "p99" in out and "growth" in out and "cold start, openai" in out


def test_client_benchmark_compares_three_approaches() -> None:
    out = run("bench.client", "--clips", "2", "--runs", "1")
    assert "shell loop" in out and "plain boto3" in out and "S3 requests per job" in out


def test_gpu_script_is_valid_bash_and_names_the_cuda_configs() -> None:
    subprocess.run(["bash", "-n", "bench/gpu.sh"], check=True)
    text = Path("bench/gpu.sh").read_text()
    assert "--device cuda" in text and "int8_float16" in text
