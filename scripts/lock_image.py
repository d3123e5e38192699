"""`make lock-image`: write container/requirements/{variant}.in from pyproject's extras and
compile each into a lock with every package's sha256 (`uv pip compile --generate-hashes`).

The locks are universal (one file serves Python 3.11 on Debian and 3.12 on Ubuntu 24.04), take
every package from PyPI (`--no-config`: a developer's own pip settings never leak into the
committed lock), and are refused if the openai variant's CUDA wheels do not match the base image.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from whisper_async import image_variants  # noqa: E402 - after the path set-up above

INDEX = "https://pypi.org/simple"
MIN_PYTHON = "3.11"


def input_lines(extras: dict[str, list[str]], chosen: image_variants.Variant) -> list[str]:
    lines = sorted({spec for extra in chosen.extras for spec in extras[extra]})
    if chosen.torch:
        lines = [line for line in lines if not line.startswith("torch")]
        lines.append(
            f"torch=={image_variants.TORCH_VERSION}  # the {image_variants.TORCH_CUDA_TAG} build"
        )
    return lines


def main() -> int:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    folder = ROOT / "container" / image_variants.REQUIREMENTS_DIR
    folder.mkdir(exist_ok=True)
    failed = False
    for chosen in image_variants.VARIANTS.values():
        source = folder / f"{chosen.name}.in"
        header = f"# The {chosen.name} image: pyproject extras {', '.join(chosen.extras)}. Written by `make lock-image`.\n"
        source.write_text(header + "\n".join(input_lines(extras, chosen)) + "\n")
        lock = image_variants.lock_path(ROOT / "container", chosen)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "uv",
                "pip",
                "compile",
                "--quiet",
                "--no-config",
                "--universal",
                "--python-version",
                MIN_PYTHON,
                "--generate-hashes",
                "--index-url",
                INDEX,
                "--custom-compile-command",
                "make lock-image",
                "--output-file",
                str(lock),
                str(source),
            ],
            check=True,
            cwd=folder,
        )
        problems = image_variants.lock_cuda_problems(lock.read_text(), chosen)
        for problem in problems:
            print(f"{lock.name}: {problem}", file=sys.stderr)
        failed = failed or bool(problems)
        print(f"wrote {lock.relative_to(ROOT)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
