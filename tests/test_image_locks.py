"""The image's lock files: hashed, in step with pyproject's extras, one CUDA major throughout."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import tomllib

from whisper_async import image_variants
from whisper_async.image import container_files

ROOT = Path(__file__).resolve().parents[1]


def lock_text(name: str) -> str:
    return image_variants.lock_path(container_files(), image_variants.variant(name)).read_text()


def test_openai_lock_torch_matches_the_base_images_cuda_major() -> None:
    dockerfile = (container_files() / "Dockerfile").read_text()
    base = re.search(r"^ARG BASE_IMAGE=(\S+)$", dockerfile, re.MULTILINE)
    assert base is not None
    cuda = image_variants.base_cuda(base.group(1))
    assert cuda is not None
    pins = image_variants.lock_pins(lock_text("openai"))
    assert pins["torch"] == [image_variants.TORCH_VERSION]
    majors = image_variants.cuda_majors(pins)
    assert majors, "torch without nvidia CUDA wheels would not use the GPU"
    assert set(majors.values()) == {cuda[0]}, majors
    runtime = pins[f"nvidia-cuda-runtime-cu{cuda[0]}"]
    assert all(version.startswith(f"{cuda[0]}.{cuda[1]}.") for version in runtime)
    assert (
        image_variants.lock_cuda_problems(lock_text("openai"), image_variants.variant("openai"))
        == []
    )


def test_slim_lock_has_faster_whisper_and_no_torch_or_cuda_wheels() -> None:
    pins = image_variants.lock_pins(lock_text("faster"))
    assert {"faster-whisper", "ctranslate2", "starlette", "uvicorn", "av"} <= set(pins)
    assert not {"torch", "openai-whisper", "triton"} & set(pins)
    assert image_variants.cuda_majors(pins) == {}


@pytest.mark.parametrize("name", list(image_variants.VARIANTS))
def test_every_pin_carries_a_sha256(name: str) -> None:
    text = lock_text(name)
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[-1].strip())
    pinned = [entry for entry in entries if "==" in entry.split("\n", 1)[0]]
    assert pinned
    for entry in pinned:
        assert "--hash=sha256:" in entry, entry.split("\n", 1)[0]


@pytest.mark.parametrize("name", list(image_variants.VARIANTS))
def test_lock_inputs_are_pyprojects_extras(name: str) -> None:
    """`make lock-image` must be rerun when an extra changes; this notices when it was not."""
    chosen = image_variants.variant(name)
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    wanted = {spec for extra in chosen.extras for spec in extras[extra]}
    if chosen.torch:
        wanted = {spec for spec in wanted if not spec.startswith("torch")}
        wanted.add(f"torch=={image_variants.TORCH_VERSION}")
    source = (container_files() / "requirements" / f"{name}.in").read_text()
    lines = {line.split("#")[0].strip() for line in source.splitlines()} - {""}
    assert lines == wanted


def test_a_lock_with_another_cuda_major_is_refused() -> None:
    openai = image_variants.variant("openai")
    mixed = "torch==2.7.1 \\\nnvidia-cudnn-cu13==9.13.0.50 \\\nnvidia-cuda-runtime-cu12==12.8.90\n"
    problems = image_variants.lock_cuda_problems(mixed, openai)
    assert any("nvidia-cudnn-cu13 is built for CUDA 13" in p for p in problems)
    assert any("is not CUDA 12.6" in p for p in problems)
    assert image_variants.lock_cuda_problems("torch==2.7.1\n", image_variants.variant("faster"))
