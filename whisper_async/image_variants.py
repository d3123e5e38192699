"""The serving image's variants, and the one place that ties the base image's CUDA to torch's.

`faster` (the default) holds faster-whisper only: no torch. `openai` adds openai-whisper and a
torch built against the same CUDA release as the base image. Each variant installs from its lock
file in container/requirements/ (`make lock-image` writes them from pyproject's extras).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

# The default base: CUDA 12.6 with cuDNN 9, which CTranslate2 4.x needs (it loads libcublas.so.12).
BASE_IMAGE = "nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04"
BASE_CUDA = "12.6"
# PyTorch names its builds by CUDA release; cu126 is the build for BASE_CUDA. Every 2.7.x release
# on PyPI *is* the cu126 build (its Linux wheels depend on the nvidia-*-cu12 12.6 wheels), so the
# lock takes torch from the same index as everything else, and one PyPI mirror serves the whole
# build. Moving BASE_IMAGE to another CUDA means changing these three lines and `make lock-image`,
# which refuses a lock whose CUDA wheels belong to another CUDA release.
TORCH_CUDA_TAG = "cu126"
TORCH_VERSION = "2.7.1"
TORCH_WHEEL_INDEX = f"https://download.pytorch.org/whl/{TORCH_CUDA_TAG}"

REQUIREMENTS_DIR = "requirements"  # inside container/
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)
_CUDA_WHEEL = re.compile(r"^nvidia-[a-z0-9-]+-cu(\d+)$")
_NVIDIA_CUDA_TAG = re.compile(r"(?:^|/)nvidia/cuda:(\d+)\.(\d+)")


@dataclass(frozen=True)
class Variant:
    name: str
    engines: tuple[str, ...]  # the serving engines the image can load
    extras: tuple[str, ...]  # pyproject extras the lock is compiled from
    torch: bool

    @property
    def lock_name(self) -> str:
        return f"{self.name}.txt"


VARIANTS = {
    "faster": Variant("faster", ("faster",), ("serve",), torch=False),
    "openai": Variant("openai", ("faster", "openai"), ("serve", "openai"), torch=True),
}
DEFAULT_VARIANT = "faster"


def variant(name: str) -> Variant:
    try:
        return VARIANTS[name]
    except KeyError:
        raise ValueError(f"unknown image variant {name!r}; known: {', '.join(VARIANTS)}") from None


def lock_path(container_dir: Path, chosen: Variant) -> Path:
    return container_dir / REQUIREMENTS_DIR / chosen.lock_name


def lock_pins(text: str) -> dict[str, list[str]]:
    """Package name (normalised) -> every version the lock pins (a universal lock may pin two,
    one per Python version)."""
    pins: dict[str, list[str]] = {}
    for name, version in _PIN.findall(text):
        pins.setdefault(re.sub(r"[-_.]+", "-", name).lower(), []).append(version)
    return pins


def cuda_majors(pins: dict[str, list[str]]) -> dict[str, int]:
    """The CUDA major version of each nvidia-*-cuNN wheel in a lock."""
    return {
        name: int(match.group(1)) for name in pins if (match := _CUDA_WHEEL.match(name)) is not None
    }


def base_cuda(base_image: str) -> tuple[int, int] | None:
    """(major, minor) of an nvidia/cuda base image, from its tag; None for any other base."""
    match = _NVIDIA_CUDA_TAG.search(base_image)
    return (int(match.group(1)), int(match.group(2))) if match else None


def lock_cuda_problems(text: str, chosen: Variant, cuda: str = BASE_CUDA) -> list[str]:
    """Why a variant's lock does not fit a base with CUDA `cuda` ("12.6"); empty when it does."""
    pins = lock_pins(text)
    major = int(cuda.split(".")[0])
    problems = []
    torch = pins.get("torch", [])
    if not chosen.torch:
        if torch:
            problems.append(f"the {chosen.name} lock pins torch {torch}; this variant has none")
        return problems
    if torch != [TORCH_VERSION]:
        problems.append(f"the lock pins torch {torch or 'nowhere'}, expected {TORCH_VERSION}")
    majors = cuda_majors(pins)
    if not majors:
        problems.append("the lock pins no nvidia-*-cuNN wheels: torch would not use CUDA")
    problems += [
        f"{name} is built for CUDA {found}, the base image has CUDA {major}"
        for name, found in sorted(majors.items())
        if found != major
    ]
    runtime = pins.get(f"nvidia-cuda-runtime-cu{major}", [])
    if runtime and not all(v.startswith(f"{cuda}.") for v in runtime):
        problems.append(f"nvidia-cuda-runtime-cu{major} {runtime} is not CUDA {cuda}")
    return problems
