"""The serving image's terms of scale-out from zero: cold start and pull size (podman).

python -m bench.image [--runs N] [--engine podman] [--image TAG] [--base-image IMAGE]

Cold start is `podman run` to the first `/ping` 200 with tiny.en mounted at /opt/ml/model, as
SageMaker starts a container on a new instance (the pull excluded); the baseline, in the same
run, is the same server started as a local process. Pull size is what a registry stores and a new
instance downloads: the image's layers gzip-compressed (`podman save --compress --format docker-dir`, the manifest a push uploads).
Without a working engine, it says so and measures nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import serving
from bench.metrics import Spread
from tests.helpers import models
from tests.helpers.processes import wait_for_status
from whisper_async.container_engines import probe
from whisper_async.local.runtime import free_port

ROOT = Path(__file__).resolve().parents[1]


def run(engine: str, *args: str, timeout: float = 1800) -> str:
    return subprocess.run(
        [engine, *args], capture_output=True, text=True, check=True, timeout=timeout
    ).stdout


def build(engine: str, base_image: str, variant: str = "faster") -> str:
    """`wasync build --no-push` (cached layers make a rebuild of unchanged inputs quick)."""
    with tempfile.TemporaryDirectory(prefix="wasync-bench-state-") as state:
        done = subprocess.run(
            [sys.executable, "-m", "whisper_async.cli", "build", "--no-push", "--builder", engine,
             "--base-image", base_image, "--engine", variant],
            capture_output=True, text=True, check=False, timeout=3600,
            env={**os.environ, "WASYNC_STATE_DIR": state},
        )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"wasync build failed: {done.stderr[-2000:]}")
    return done.stdout.strip().splitlines()[-1]


def default_base(engine: str) -> str:
    return run("bash", str(ROOT / "scripts" / "image-base.sh"), engine).strip().splitlines()[-1]


def cold_start(engine: str, image: str, model_dir: Path, runs: int) -> Spread:
    samples = []
    for _ in range(runs):
        port = free_port()
        name = f"wasync-bench-{port}"
        started = time.perf_counter()
        run(engine, "run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8080",
            "-v", f"{model_dir}:/opt/ml/model:ro", image, "serve")  # fmt: skip
        try:
            wait_for_status(f"http://127.0.0.1:{port}/ping", 200, timeout=300)
            samples.append(time.perf_counter() - started)
        finally:
            subprocess.run([engine, "rm", "--force", name], capture_output=True, check=False)
    return Spread.of(samples)


def sizes(engine: str, image: str) -> dict[str, int]:
    """Uncompressed size, and the gzip-compressed layers a pull downloads."""
    inspected = json.loads(run(engine, "image", "inspect", image))[0]
    with tempfile.TemporaryDirectory(prefix="wasync-bench-save-") as folder:
        target = Path(folder) / "image"
        run(engine, "save", "--compress", "--format", "docker-dir", "-o", str(target), image)
        manifest = json.loads((target / "manifest.json").read_text())
        layers = [layer["size"] for layer in manifest["layers"]]
    return {"size": int(inspected["Size"]), "pull": sum(layers), "layers": len(layers)}


def measure(runs: int, engine: str = "podman", images: dict[str, str] | None = None,
            base_image: str | None = None) -> dict[str, Any]:  # fmt: skip
    found = probe(engine)
    if not found.working:
        return {"skipped": f"no working container engine ({found.describe()})"}
    base = base_image or default_base(engine)
    images = images or {"faster": build(engine, base)}
    model_dir = models.tiny_en_ctranslate2()
    result: dict[str, Any] = {"engine": engine, "base": base, "runs": runs, "images": {}}
    for variant, image in images.items():
        result["images"][variant] = {"image": image, **sizes(engine, image)}
    result["cold"] = cold_start(engine, images["faster"], model_dir, runs)
    result["process"] = serving.cold_start(model_dir, runs)["ready"]
    return result


def report(result: dict[str, Any]) -> str:
    if "skipped" in result:
        return f"Not measured: {result['skipped']}."
    cold, process = result["cold"], result["process"]
    lines = [
        "| image | on disk | pull (gzip layers) | layers |",
        "|---|---|---|---|",
        *(
            f"| `{info['image']}` ({variant}) | {info['size'] / 1e6:,.0f} MB | "
            f"{info['pull'] / 1e6:,.0f} MB | {info['layers']} |"
            for variant, info in result["images"].items()
        ),
        "",
        f"| cold start, tiny.en | median [min-max] of {cold.runs} | ratio |",
        "|---|---|---|",
        f"| `{result['engine']} run` to the first `/ping` 200 (slim image) | {cold.median:.2f} s "
        f"[{cold.minimum:.2f}-{cold.maximum:.2f}] | {cold.median / process.median:.2f}x the process |",
        f"| baseline: `wasync-serve` as a local process to `/ping` 200 | {process.median:.2f} s "
        f"[{process.minimum:.2f}-{process.maximum:.2f}] | 1.00x |",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--engine", default="podman")
    parser.add_argument("--base-image", default=None)
    parser.add_argument(
        "--image", action="append", default=[], metavar="VARIANT=TAG",
        help="measure an image already built, e.g. faster=wasync:0.1.0-faster-abc",
    )  # fmt: skip
    args = parser.parse_args(argv)
    images = dict(item.split("=", 1) for item in args.image) or None
    print(report(measure(args.runs, args.engine, images, args.base_image)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
