"""The server's process memory: the loaded model's objects kept out of each decode's collection,
and cycles of objects made by requests still freed."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import models
from whisper_async.serving.audio import decode_audio
from whisper_async.serving.main import load_serving_engine
from whisper_async.serving.memory import freeze_loaded_objects

DATA = Path(__file__).parent / "data"


class Node:
    """A stand-in for a model's object graph: it refers to itself, as such graphs do."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture
def collector_by_hand() -> Iterator[None]:
    """Only explicit collections run, so what frees a cycle is the code under test; afterwards
    the rest of the test run collects as usual."""
    gc.disable()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.enable()


def tracked(obj: object) -> bool:
    return any(other is obj for other in gc.get_objects())


def test_objects_alive_at_load_are_out_of_later_collections(collector_by_hand: None) -> None:
    loaded = Node()
    garbage = Node()
    gone = weakref.ref(garbage)
    del garbage
    assert tracked(loaded)
    freeze_loaded_objects()
    assert not tracked(loaded)  # a collection no longer walks it
    assert gone() is None  # collected before freezing, not kept for ever


def test_a_cycle_made_after_loading_is_freed_by_the_next_decode(collector_by_hand: None) -> None:
    freeze_loaded_objects()
    request_garbage = Node()
    gone = weakref.ref(request_garbage)
    del request_garbage
    assert gone() is not None  # a cycle: reference counting alone does not free it
    samples = decode_audio(DATA / "en_short.mp3")
    assert len(samples) > 0
    assert gone() is None


def test_the_server_freezes_its_engine_once_loaded(collector_by_hand: None) -> None:
    engine = load_serving_engine(models.tiny_en_ctranslate2())
    assert engine.name == "faster"
    assert not tracked(engine)
