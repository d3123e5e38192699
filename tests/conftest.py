from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import models

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def tiny_en_dir() -> Path:
    return models.tiny_en_ctranslate2()


@pytest.fixture(scope="session")
def base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return models.assemble_base(tmp_path_factory.mktemp("base"))


@pytest.fixture(scope="session")
def tiny_en_pt_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return models.tiny_en_openai(tmp_path_factory.mktemp("openai-tiny-en")).parent


@pytest.fixture(scope="session")
def faster_tiny_en(tiny_en_dir: Path):  # type: ignore[no-untyped-def]
    from whisper_async.serving.engines import FasterWhisperEngine

    return FasterWhisperEngine(tiny_en_dir, "tiny.en", "cpu", "int8")


@pytest.fixture(scope="session")
def openai_tiny_en(tiny_en_pt_dir: Path):  # type: ignore[no-untyped-def]
    from whisper_async.serving.engines import OpenAIWhisperEngine

    return OpenAIWhisperEngine(tiny_en_pt_dir / "tiny.en.pt", "tiny.en", "cpu", fp16=False)
