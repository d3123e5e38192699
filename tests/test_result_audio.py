"""A result states the audio the server heard; one of other audio is refused, not delivered."""

from __future__ import annotations

import hashlib
import json

import pytest

from whisper_async.jobs.results import ForeignResultError, render

OURS = hashlib.sha256(b"our audio").hexdigest()
THEIRS = hashlib.sha256(b"other audio").hexdigest()


def result(heard: str | None) -> bytes:
    document = {"text": " hello", "segments": [{"start": 0.0, "end": 1.0, "text": " hello"}]}
    if heard is not None:
        document["audio_sha256"] = heard
    return json.dumps(document).encode()


def test_a_result_of_other_audio_is_refused_naming_both_hashes() -> None:
    with pytest.raises(ForeignResultError) as refused:
        render(result(THEIRS), "application/json", "txt", audio_sha256=OURS)
    assert THEIRS[:12] in refused.value.message and OURS[:12] in refused.value.message
    assert "--rerun" in str(refused.value.hint)


@pytest.mark.parametrize(
    ("heard", "expected"),
    [(OURS, OURS), (None, OURS), (THEIRS, None)],
    ids=["same-audio", "older-server-states-none", "job-from-s3-has-no-hash"],
)
def test_a_result_is_delivered_when_nothing_says_it_is_of_other_audio(
    heard: str | None, expected: str | None
) -> None:
    assert (
        render(result(heard), "application/json", "txt", audio_sha256=expected).text.strip()
        == "hello"
    )
