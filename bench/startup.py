"""Start-up time of the CLI: `wasync --version` and `wasync --help` against `python -c pass`.

python -m bench.startup [--runs 20]

Each command runs as a fresh process, alternating with the baseline so that machine load
hits all of them alike; the report gives medians as ratios to the baseline measured in the
same run, and which heavy modules each command imported.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from typing import Any

from bench.metrics import Spread

COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "wasync --version": [sys.executable, "-m", "whisper_async.cli", "--version"],
    "wasync --help": [sys.executable, "-m", "whisper_async.cli", "--help"],
}
HEAVY = ("boto3", "botocore", "rich.progress", "rich.live")


def _time(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def _heavy_imports(argv: list[str]) -> list[str]:
    """Which heavy modules the command imports (python -X importtime, on stderr)."""
    if argv[1:3] != ["-m", "whisper_async.cli"]:
        return []
    done = subprocess.run(
        [argv[0], "-X", "importtime", *argv[1:]], capture_output=True, text=True, check=True
    )
    loaded = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()}
    return [name for name in HEAVY if name in loaded]


def measure(runs: int = 20) -> dict[str, Any]:
    samples: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for argv in COMMANDS.values():
        _time(argv)  # warm the file cache once
    for _ in range(runs):
        for name, argv in COMMANDS.items():
            samples[name].append(_time(argv))
    spreads = {name: Spread.of(values) for name, values in samples.items()}
    return {
        "spreads": spreads,
        "heavy": {name: _heavy_imports(argv) for name, argv in COMMANDS.items()},
        "runs": runs,
    }


def report(result: dict[str, Any]) -> str:
    spreads = result["spreads"]
    base = spreads["python -c pass"]
    lines = [
        "| command | median | ratio to `python -c pass` | heavy modules imported |",
        "|---|---|---|---|",
    ]
    for name, spread in spreads.items():
        heavy = ", ".join(result["heavy"][name]) or "none"
        lines.append(
            f"| `{name}` | {1000 * spread.median:.0f} ms [{1000 * spread.minimum:.0f}-"
            f"{1000 * spread.maximum:.0f}] | {spread.median / base.median:.2f}x | {heavy} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args(argv)
    print(report(measure(args.runs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
