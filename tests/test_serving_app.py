"""The real Starlette app with the real tiny.en model, driven through TestClient."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from tests.helpers.engines import (
    BrokenEngine,
    HeldEngine,
    SlowEngine,
    failing_loader,
    slow_loader,
)
from whisper_async import requestlog
from whisper_async.serving.app import ServerSettings, create_app


def wait_ready(client: TestClient, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.get("/ping").status_code == 200:
            return
        time.sleep(0.02)
    raise TimeoutError("model did not load")


@pytest.fixture
def client(faster_tiny_en, tmp_path: Path):  # type: ignore[no-untyped-def]
    app = create_app(
        ServerSettings(model_dir=tmp_path, max_concurrency=1, tmp_dir=tmp_path),
        lambda: faster_tiny_en,
    )
    with TestClient(app) as test_client:
        wait_ready(test_client)
        yield test_client


def test_ping_is_503_while_loading_then_200(faster_tiny_en, tmp_path: Path) -> None:
    app = create_app(ServerSettings(model_dir=tmp_path), slow_loader(faster_tiny_en, 1.0))
    with TestClient(app) as client:
        started = time.monotonic()
        first = client.get("/ping")
        assert time.monotonic() - started < 2
        assert first.status_code == 503
        assert first.json() == {"status": "starting"}
        loading = client.post("/invocations", content=b"x")
        assert loading.status_code == 503 and loading.headers["retry-after"] == "1"
        wait_ready(client)
        assert client.get("/ping").json() == {"status": "ready", "in_flight": 0}


def test_ping_is_500_with_the_reason_after_a_failed_load(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(ServerSettings(model_dir=tmp_path), failing_loader)
    with TestClient(app) as client:
        deadline = time.monotonic() + 10
        while client.get("/ping").status_code == 503 and time.monotonic() < deadline:
            time.sleep(0.02)
        response = client.get("/ping")
        assert response.status_code == 500
        assert "model.bin is truncated" in response.json()["error"]
        invoke = client.post("/invocations", content=b"audio")
        assert invoke.status_code == 500 and invoke.json()["error"] == "model_failed"
        assert "model.bin is truncated" in invoke.json()["message"]
    assert "model.bin is truncated" in caplog.text


def test_transcribes_speech_to_json_with_timings(client: TestClient, data_dir: Path) -> None:
    import hashlib

    audio = (data_dir / "en_short.wav").read_bytes()
    response = client.post("/invocations", content=audio)
    assert response.status_code == 200
    # the audio it heard: a client tells its job's result from one written under its key
    assert response.json()["audio_sha256"] == hashlib.sha256(audio).hexdigest()
    assert response.headers["content-length"] == str(len(response.content))
    result = response.json()
    assert "lazy dog" in result["text"].lower()
    assert result["language"] == "en"
    assert result["engine"] == "faster" and result["model"] == "tiny.en"
    assert result["duration"] == pytest.approx(3.44, abs=0.05)
    assert result["segments"][0]["start"] >= 0
    assert result["timings"]["real_time_factor"] > 0
    assert list(Path(client.app.state.serving.settings.tmp_dir).glob("wasync-*")) == []


@pytest.mark.parametrize(
    ("accept", "content_type", "starts"),
    [
        ("text/vtt", "text/vtt", "WEBVTT"),
        ("application/x-subrip", "application/x-subrip", "1\n00:00:00,000 --> "),
        ("text/plain", "text/plain", "The quick"),
        ("application/json", "application/json", "{"),
        # a list, as clients send it: the first of ours, by weight, then by order
        ("text/vtt, application/json;q=0.5", "text/vtt", "WEBVTT"),
        ("application/json;q=0.2, text/plain", "text/plain", "The quick"),
        ("text/html, */*;q=0.8", "application/json", "{"),  # none of ours: the default
    ],
)
def test_accept_header_selects_the_format(
    client: TestClient, data_dir: Path, accept: str, content_type: str, starts: str
) -> None:
    response = client.post(
        "/invocations", content=(data_dir / "en_short.mp3").read_bytes(), headers={"Accept": accept}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(content_type)
    assert response.text.startswith(starts)


def test_custom_attributes_override_accept_and_add_word_timestamps(
    client: TestClient, data_dir: Path
) -> None:
    response = client.post(
        "/invocations",
        content=(data_dir / "en_short.wav").read_bytes(),
        headers={
            "Accept": "text/vtt",
            "X-Amzn-SageMaker-Custom-Attributes": "format=json;word_timestamps=true;beam_size=2",
        },
    )
    assert response.status_code == 200
    words = response.json()["segments"][0]["words"]
    assert words and all(w["start"] <= w["end"] for w in words)


def test_tsv_output(client: TestClient, data_dir: Path) -> None:
    response = client.post(
        "/invocations",
        content=(data_dir / "en_short.wav").read_bytes(),
        headers={"X-Amzn-SageMaker-Custom-Attributes": "format=tsv"},
    )
    lines = response.text.splitlines()
    assert lines[0] == "start\tend\ttext"
    assert int(lines[1].split("\t")[1]) > int(lines[1].split("\t")[0])


def test_silence_transcribes_to_no_segments(client: TestClient, data_dir: Path) -> None:
    response = client.post("/invocations", content=(data_dir / "silence.wav").read_bytes())
    assert response.status_code == 200
    assert response.json()["text"] == ""


BAD_REQUESTS = [
    pytest.param(b"", {}, 400, "empty_body", "body is empty", id="empty-body"),
    pytest.param(b"corrupt", {}, 415, "undecodable_audio", "cannot decode", id="corrupt-audio"),
    pytest.param(
        b"x",
        {"X-Amzn-SageMaker-Custom-Attributes": "colour=red"},
        422,
        "invalid_option",
        "allowed: language",
        id="unknown-option",
    ),
    pytest.param(
        b"x",
        {"X-Amzn-SageMaker-Custom-Attributes": "task=summarise"},
        422,
        "invalid_option",
        "transcribe, translate",
        id="bad-value",
    ),
    pytest.param(
        b"x",
        {"X-Amzn-SageMaker-Custom-Attributes": "batch_size=128"},
        422,
        "invalid_option",
        "batch_size=128 is over this endpoint's limit of 8 (WASYNC_MAX_BATCH_SIZE)",
        id="batch-over-the-limit",  # 30 min of speech at 128 took 7.1 GB on CPU
    ),
    pytest.param(
        b"x",
        {"X-Amzn-SageMaker-Custom-Attributes": "language=de"},
        409,
        "unsupported_language",
        "English-only",
        id="unsupported-language",
    ),
]


@pytest.mark.parametrize(("body", "headers", "status", "code", "message"), BAD_REQUESTS)
def test_bad_input_gets_its_own_status_and_a_message(
    client: TestClient,
    data_dir: Path,
    body: bytes,
    headers: dict,
    status: int,
    code: str,
    message: str,
) -> None:
    if body == b"corrupt":
        body = (data_dir / "corrupt.mp3").read_bytes()
    if code == "unsupported_language":
        body = (data_dir / "en_short.wav").read_bytes()
    response = client.post("/invocations", content=body, headers=headers)
    assert response.status_code == status
    assert response.json()["error"] == code
    assert message in response.json()["message"]
    assert response.headers["content-length"] == str(len(response.content))


def test_body_over_the_limit_is_refused(faster_tiny_en, tmp_path: Path) -> None:
    app = create_app(
        ServerSettings(model_dir=tmp_path, max_body_bytes=1000, tmp_dir=tmp_path),
        lambda: faster_tiny_en,
    )
    with TestClient(app) as client:
        wait_ready(client)
        declared = client.post("/invocations", content=b"x" * 2000)
        assert declared.status_code == 413
        assert "limit is 1000" in declared.json()["message"]

        def chunks():  # no Content-Length: the limit is enforced while streaming
            for _ in range(10):
                yield b"x" * 500

        streamed = client.post("/invocations", content=chunks())
        assert streamed.status_code == 413
    assert list(tmp_path.glob("wasync-*")) == []


def test_engine_exception_is_a_500_and_the_server_keeps_serving(
    tmp_path: Path, data_dir: Path
) -> None:
    app = create_app(ServerSettings(model_dir=tmp_path), BrokenEngine)
    with TestClient(app) as client:
        wait_ready(client)
        response = client.post("/invocations", content=(data_dir / "en_short.wav").read_bytes())
        assert response.status_code == 500
        assert response.json()["error"] == "engine_error"
        assert "out of memory" in response.json()["message"]
        assert client.get("/ping").status_code == 200


def test_no_decoder_is_a_503_to_retry_and_the_next_request_is_served(
    client: TestClient, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No decoder to be had (here the decoder server cannot start: its interpreter exits at
    once, as one the OS refused would) is the moment's, not the body's: 503 with Retry-After,
    not a 500 that reads as a broken server or a 415 that blames the audio."""
    import sys

    from whisper_async.serving import decoder_process

    audio = (data_dir / "en_short.wav").read_bytes()
    decoder_process._SERVER._stop()  # the running one is gone
    with monkeypatch.context() as patched:
        patched.setattr(sys, "executable", "/bin/false")  # and so does each new one
        refused = client.post("/invocations", content=audio)
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
    assert refused.json()["error"] == "decoder_unavailable"
    assert "the decoder server failed" in refused.json()["message"]
    assert client.post("/invocations", content=audio).status_code == 200


def test_no_file_descriptor_left_is_a_503_to_retry_not_a_500(
    client: TestClient, data_dir: Path
) -> None:
    """240 uploads at once under a 256-file limit: 130 got 500 internal_error, each with a
    traceback in the log. The OS's refusal is the moment's, as a decoder's is."""
    import errno
    import resource

    audio = (data_dir / "en_short.wav").read_bytes()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    held: list[int] = []
    try:
        # every descriptor taken, as a burst of uploads takes them
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, 4096), hard))
        while True:
            try:
                held.append(os.open(os.devnull, os.O_RDONLY))
            except OSError as exc:
                assert exc.errno == errno.EMFILE
                break
        refused = client.post("/invocations", content=audio)
    finally:
        for descriptor in held:
            os.close(descriptor)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
    assert refused.json()["error"] == "server_busy"
    assert client.post("/invocations", content=audio).status_code == 200


def test_fifty_bad_requests_then_a_good_one_succeeds(client: TestClient, data_dir: Path) -> None:
    corrupt = (data_dir / "corrupt.mp3").read_bytes()
    bad = [
        (b"", {}),
        (corrupt, {}),
        (b"\x00" * 10, {}),
        (b"x", {"X-Amzn-SageMaker-Custom-Attributes": "beam_size=-1"}),
        (b"x", {"X-Amzn-SageMaker-Custom-Attributes": "%%%=;;=="}),
    ]
    statuses = set()
    for index in range(50):
        body, headers = bad[index % len(bad)]
        response = client.post("/invocations", content=body, headers=headers)
        statuses.add(response.status_code)
        json.loads(response.text)
    assert statuses <= {400, 415, 422}
    good = client.post(
        "/invocations",
        content=(data_dir / "en_short.wav").read_bytes(),
        headers={"Accept": "text/plain"},
    )
    assert good.status_code == 200
    assert "lazy dog" in good.text.lower()


def test_ping_answers_promptly_while_transcriptions_queue_behind_the_bound(
    faster_tiny_en, tmp_path: Path, data_dir: Path
) -> None:
    slow = SlowEngine(faster_tiny_en, delay=1.5)
    app = create_app(ServerSettings(model_dir=tmp_path, max_concurrency=1), lambda: slow)
    audio = (data_dir / "en_short.wav").read_bytes()
    with TestClient(app) as client:
        wait_ready(client)
        results: list[int] = []
        workers = [
            threading.Thread(
                target=lambda: results.append(
                    client.post("/invocations", content=audio).status_code
                )
            )
            for _ in range(3)
        ]
        for worker in workers:
            worker.start()
        time.sleep(0.3)
        ping_times = []
        for _ in range(10):
            started = time.monotonic()
            assert client.get("/ping").status_code == 200
            ping_times.append(time.monotonic() - started)
            time.sleep(0.05)
        for worker in workers:
            worker.join()
    assert results == [200, 200, 200]
    assert slow.most_at_once == 1
    assert max(ping_times) < 2.0


def request_lines(caplog: pytest.LogCaptureFixture) -> list[dict]:
    parsed = [
        requestlog.parse_line(record.getMessage())
        for record in caplog.records
        if record.name == "wasync.requests"
    ]
    return [line for line in parsed if line is not None]


def test_a_huge_path_and_inference_id_are_cut_in_the_log_line(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    """One 404 with a 15,000-character path and an 8,000-character id wrote a 24 KB line."""
    caplog.set_level(logging.INFO, logger="wasync.requests")
    response = client.get("/" + "a" * 15_000, headers={"X-Amzn-SageMaker-Inference-Id": "i" * 8000})
    assert response.status_code == 404
    (line,) = request_lines(caplog)
    assert line["Path"] == "/" + "a" * 199 + "..." and line["InferenceId"] == "i" * 128 + "..."
    (record,) = [r for r in caplog.records if r.name == "wasync.requests"]
    assert len(record.getMessage()) < 2_000


def test_each_request_leaves_one_json_line_with_its_figures(
    client: TestClient, data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="wasync.requests")
    audio = (data_dir / "en_short.wav").read_bytes()
    ok = client.post(
        "/invocations",
        content=audio,
        headers={
            "X-Amzn-SageMaker-Inference-Id": "4f1c-inference",
            "X-Amzn-SageMaker-Custom-Attributes": "beam_size=2;initial_prompt=Secret%20name",
        },
    )
    bad = client.post("/invocations", content=(data_dir / "corrupt.mp3").read_bytes())
    assert client.get("/ping").status_code == 200  # not logged
    assert (ok.status_code, bad.status_code) == (200, 415)
    first, second = request_lines(caplog)
    assert first["InferenceId"] == "4f1c-inference"
    assert (first["Status"], first["Outcome"]) == (200, "ok")
    assert first["ContentLength"] == len(audio) == first["BodyBytes"]
    assert first["AudioSeconds"] == pytest.approx(3.44, abs=0.01)
    assert first["ProcessingSeconds"] > 0
    assert first["RealTimeFactor"] == pytest.approx(
        first["ProcessingSeconds"] / first["AudioSeconds"], rel=0.01
    )
    assert (first["Engine"], first["Model"], first["Language"]) == ("faster", "tiny.en", "en")
    assert first["Options"]["beam_size"] == 2
    assert first["Options"]["initial_prompt_chars"] == len("Secret name")
    assert "Secret" not in json.dumps(first)  # the user's prompt text stays out of the log
    assert (second["Status"], second["Outcome"]) == (415, "undecodable_audio")
    assert "cannot decode" in second["Message"]
    metrics = [
        {d.name for d in requestlog.metric_data(record.getMessage())}
        for record in caplog.records
        if record.name == "wasync.requests"
    ]
    assert metrics == [{"AudioSeconds", "ProcessingSeconds", "RealTimeFactor"}, {"Failures"}]


def test_drain_deadline_answers_a_transcription_in_progress_with_a_reason(
    faster_tiny_en, tmp_path: Path, data_dir: Path
) -> None:
    """SIGTERM's drain period ends while the engine works: 503 with why, not a bare 500."""
    held = HeldEngine(faster_tiny_en)
    settings = ServerSettings(model_dir=tmp_path, max_concurrency=1, drain_seconds=0.2)
    app = create_app(settings, lambda: held)
    responses = []
    with TestClient(app) as client:
        wait_ready(client)
        worker = threading.Thread(
            target=lambda: responses.append(
                client.post("/invocations", content=(data_dir / "en_short.wav").read_bytes())
            )
        )
        worker.start()
        try:
            assert held.entered.wait(300), "the transcription never started"
            app.state.serving.drain.start()  # what SIGTERM does (main.py)
            worker.join(300)
        finally:
            held.release.set()  # the abandoned thread may finish now
    assert responses[0].status_code == 503
    assert responses[0].json()["error"] == "shutting_down"
    assert "WASYNC_DRAIN_SECONDS" in responses[0].json()["message"]


@pytest.mark.parametrize(
    ("method", "path", "status", "code", "words"),
    [
        ("GET", "/invocations", 405, "method_not_allowed", "GET is not allowed"),
        ("POST", "/predict", 404, "not_found", "POST /invocations"),
        ("DELETE", "/ping", 405, "method_not_allowed", "GET"),
        ("POST", "/invocations/", 404, "not_found", "POST /invocations"),  # not a redirect
    ],
)
def test_wrong_paths_and_methods_get_json_errors(
    client: TestClient, method: str, path: str, status: int, code: str, words: str
) -> None:
    response = client.request(method, path)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"] == code
    assert words in response.json()["message"]
