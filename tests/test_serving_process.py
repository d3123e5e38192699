"""`wasync-serve` as a real process: what SageMaker runs as `docker run IMAGE serve`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from bench.metrics import peak_rss_mib
from tests.helpers import rawhttp
from tests.helpers.audio import write_flac
from tests.helpers.processes import serve_process, wait_for_status, wait_until
from whisper_async import requestlog
from whisper_async.serving.app import ServerSettings


def wait_refused(url: str) -> bool:
    """True once the server takes no new request: the connection is refused, or (when the
    kernel had already queued it as the listener closed) dropped without an answer."""
    try:
        httpx.get(f"{url}/ping", timeout=2)
    except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError):
        return True
    return False


def test_train_exits_non_zero_with_a_message() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "whisper_async.serving.main", "train"],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "inference only" in result.stderr


def test_a_bad_setting_exits_2_naming_the_variable(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "whisper_async.serving.main", "serve", "--port", "1"],
        env={**os.environ, "WASYNC_MODEL_DIR": str(tmp_path), "WASYNC_MAX_AUDIO_SECONDS": "4h"},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "WASYNC_MAX_AUDIO_SECONDS='4h' is not a number" in result.stderr


@pytest.mark.parametrize(
    ("name", "raw", "says"),
    [
        ("WASYNC_MAX_AUDIO_SECONDS", "nan", "must be above 0"),
        ("WASYNC_WINDOW_SECONDS", "inf", "must be at most"),
        ("WASYNC_DRAIN_SECONDS", "1e400", "must be at most"),
        ("WASYNC_WINDOW_SECONDS", "1e9", "must be at most"),
        ("WASYNC_MAX_CONCURRENCY", "nan", "must be above 0"),
        ("WASYNC_MAX_CONCURRENCY", "1e400", "must be at most"),
    ],
)
def test_a_setting_no_request_could_use_is_refused_naming_it(
    name: str, raw: str, says: str
) -> None:
    """nan, inf and 1e400 are floats to Python; served, every request would fail with a 500."""
    with pytest.raises(ValueError, match=f"{name}={raw!r} {says}"):
        ServerSettings.from_env({name: raw})


def test_the_batch_limit_is_the_devices_or_the_setting_and_a_bad_one_is_refused() -> None:
    from whisper_async.serving.engines import batch_limit

    assert (batch_limit({}, "cpu"), batch_limit({}, "cuda")) == (8, 32)
    assert batch_limit({"WASYNC_MAX_BATCH_SIZE": "4"}, "cuda") == 4
    # An endpoint deployed with a larger default batch may use it.
    assert batch_limit({"WASYNC_DEFAULT_BATCH_SIZE": "16"}, "cpu") == 16
    with pytest.raises(ValueError, match=r"WASYNC_MAX_BATCH_SIZE: batch_size='8\.5' is not"):
        ServerSettings.from_env({"WASYNC_MAX_BATCH_SIZE": "8.5"})
    # A default over an explicit limit would have every request that leaves it refused.
    over = {"WASYNC_MAX_BATCH_SIZE": "16", "WASYNC_DEFAULT_BATCH_SIZE": "64"}
    with pytest.raises(ValueError, match="WASYNC_DEFAULT_BATCH_SIZE=64 is over"):
        ServerSettings.from_env(over)


def test_a_temporary_folder_the_server_cannot_write_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="WASYNC_TMP_DIR=/nonexistent is not a folder"):
        ServerSettings.from_env({"WASYNC_TMP_DIR": "/nonexistent"})
    assert ServerSettings.from_env({"WASYNC_TMP_DIR": str(tmp_path)}).tmp_dir == tmp_path


def test_a_full_disk_is_its_own_error_not_a_500() -> None:
    """/dev/full answers every write with ENOSPC, as a full temporary folder does."""
    from dataclasses import dataclass

    import anyio
    from starlette.requests import Request

    from whisper_async.serving.body import receive_to_file
    from whisper_async.serving.errors import NoSpaceError, status_for

    @dataclass
    class Limits:
        max_body_bytes: int = 1 << 30
        body_idle_seconds: float = 60.0
        body_timeout_seconds: float = 900.0

    pieces = [b"x" * 65536] * 4

    async def receive() -> dict:
        body = pieces.pop() if pieces else b""
        return {"type": "http.request", "body": body, "more_body": bool(pieces)}

    async def receive_all() -> int:
        scope = {"type": "http", "method": "POST", "headers": [], "path": "/invocations"}
        return await receive_to_file(Request(scope, receive), Path("/dev/full"), Limits())

    with pytest.raises(NoSpaceError, match="no space left") as raised:
        anyio.run(receive_all)
    assert status_for(raised.value) == (507, "no_space")


def test_serves_ping_then_transcribes_and_logs_one_line_per_request(
    tiny_en_dir: Path, data_dir: Path, tmp_path: Path
) -> None:
    log = tmp_path / "server.log"
    with serve_process(tiny_en_dir, {"WASYNC_ENDPOINT_NAME": "whisper"}, log_path=log) as (
        _,
        url,
    ):
        wait_for_status(f"{url}/ping", 200, timeout=600)
        response = httpx.post(
            f"{url}/invocations",
            content=(data_dir / "en_short.wav").read_bytes(),
            headers={"X-Amzn-SageMaker-Inference-Id": "id-1"},
            timeout=600,
        )
        assert response.status_code == 200
        assert int(response.headers["content-length"]) == len(response.content)
        assert "transfer-encoding" not in response.headers
        assert "lazy dog" in response.json()["text"].lower()
    lines = log.read_text().splitlines()
    records = [r for r in map(requestlog.parse_line, lines) if r is not None]
    assert [(r["InferenceId"], r["Status"], r["Endpoint"]) for r in records] == [
        ("id-1", 200, "whisper")
    ]
    # the request line is bare JSON (EMF), and faster-whisper's own chatter is gone
    assert any(line.startswith('{"_aws":') for line in lines)
    assert not any("Processing audio" in line for line in lines)


def test_failed_load_makes_ping_500_and_logs_the_reason(tmp_path: Path) -> None:
    (tmp_path / "model.bin").write_bytes(b"not a model")
    (tmp_path / "config.json").write_text("{}")
    log = tmp_path / "server.log"
    with serve_process(tmp_path, log_path=log) as (_, url):
        wait_for_status(f"{url}/ping", 500)
        # not "retry when /ping returns 200": it never will
        answer = httpx.post(f"{url}/invocations", content=b"RIFF", timeout=60)
    assert answer.status_code == 500 and answer.json()["error"] == "model_failed"
    assert "will not recover" in answer.json()["message"]
    assert "retry-after" not in answer.headers
    assert "model load failed" in log.read_text()


def test_300_mb_body_streams_to_disk_without_buffering(tiny_en_dir: Path, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    chunk = b"\0" * (1 << 20)
    with serve_process(tiny_en_dir, {"WASYNC_TMP_DIR": str(spool)}) as (process, url):
        wait_for_status(f"{url}/ping", 200)
        before = peak_rss_mib(process.pid)
        seen_on_disk: list[int] = []

        def body():  # type: ignore[no-untyped-def]
            for index in range(300):
                if index == 200:
                    seen_on_disk.extend(f.stat().st_size for f in spool.iterdir())
                yield chunk

        response = httpx.post(f"{url}/invocations", content=body(), timeout=120)
        growth = peak_rss_mib(process.pid) - before
    assert response.status_code == 415  # zeros are not audio; the point is how they arrived
    assert seen_on_disk and seen_on_disk[0] > 100 * (1 << 20)
    assert growth < 64, f"server grew {growth:.0f} MiB while receiving 300 MiB"
    assert list(spool.iterdir()) == []


def ping_in_flight(url: str) -> int:
    answer: int = httpx.get(f"{url}/ping", timeout=30).json()["in_flight"]
    return answer


def test_sigterm_lets_a_request_in_flight_finish_then_exits(
    tiny_en_dir: Path, data_dir: Path
) -> None:
    """SIGTERM arrives while the body is still uploading (so the request is surely in flight,
    however fast the machine); the server stops accepting, finishes the job, answers 200."""
    audio = (data_dir / "en_30s.wav").read_bytes()
    resume = threading.Event()

    def body():  # type: ignore[no-untyped-def]
        yield audio[: len(audio) // 2]
        resume.wait(600)
        yield audio[len(audio) // 2 :]

    # A drain period far beyond any machine's time for a 30 s clip: this test is about finishing.
    env = {"WASYNC_DRAIN_SECONDS": "900", "WASYNC_BODY_IDLE_SECONDS": "900"}
    with serve_process(tiny_en_dir, env) as (process, url):
        wait_for_status(f"{url}/ping", 200, timeout=600)
        responses: list[httpx.Response] = []
        worker = threading.Thread(
            target=lambda: responses.append(
                httpx.post(f"{url}/invocations", content=body(), timeout=900)
            )
        )
        worker.start()
        try:
            wait_until(lambda: ping_in_flight(url) == 1, "the request reaching the server")
            process.send_signal(signal.SIGTERM)
            wait_until(lambda: wait_refused(url), "the server refusing new connections")
        finally:
            resume.set()
        worker.join()
        # uvicorn re-raises SIGTERM once drained, so the exit status says why it stopped.
        assert process.wait(timeout=600) in (0, -signal.SIGTERM)
    assert responses[0].status_code == 200
    assert "recognition has come a long way" in responses[0].json()["text"].lower()


def test_sigterm_fails_a_request_that_outlasts_the_drain_period_with_a_reason(
    tiny_en_dir: Path,
) -> None:
    """A body that never completes cannot finish before SIGKILL: when the drain period ends
    the server answers 503 `shutting_down` with the reason, then exits."""
    env = {"WASYNC_DRAIN_SECONDS": "1", "WASYNC_BODY_IDLE_SECONDS": "900"}
    with serve_process(tiny_en_dir, env) as (process, url):
        wait_for_status(f"{url}/ping", 200, timeout=600)
        with rawhttp.connect(url, timeout=600) as sock:
            sock.sendall(rawhttp.post_head("/invocations", 100_000) + b"\0" * 1000)
            wait_until(lambda: ping_in_flight(url) == 1, "the request reaching the server")
            process.send_signal(signal.SIGTERM)
            response = rawhttp.read_response(sock)
        assert process.wait(timeout=600) in (0, -signal.SIGTERM)
    assert response.status == 503
    assert response.json()["error"] == "shutting_down"
    assert "WASYNC_DRAIN_SECONDS" in response.json()["message"]


def sounding_flac(path: Path, seconds: float, data_dir: Path) -> Path:
    """A clip every 5 s, so that every window of 5 s holds sound: a window of digital silence
    is never given to the engine."""
    return write_flac(path, seconds, speech=data_dir / "en_short.wav", every_seconds=5)


def standin_model(folder: Path, seconds_a_window: float) -> Path:
    """A model folder for the stand-in engine, which takes `seconds_a_window` per window."""
    folder.mkdir()
    manifest = {"engine": "standin", "name": "standin", "sha256": "0" * 64, "format_version": 1}
    (folder / "wasync-model.json").write_text(json.dumps(manifest))
    (folder / "standin.json").write_text(json.dumps({"seconds": seconds_a_window}))
    return folder


def test_a_client_that_leaves_stops_its_transcription_at_the_next_window(
    tmp_path: Path, data_dir: Path
) -> None:
    """A client that times out (SageMaker's InvocationTimeoutSeconds, curl -m) would otherwise
    hold the only transcription slot for the rest of its audio. The stand-in engine takes 1 s
    a window; the 60 s file is 12 windows of 5 s."""
    model = standin_model(tmp_path / "standin", seconds_a_window=1)
    audio = sounding_flac(tmp_path / "minute.flac", 60, data_dir)
    log = tmp_path / "server.log"
    env = {"WASYNC_WINDOW_SECONDS": "5"}
    with serve_process(model, env, log_path=log) as (_, url):
        wait_for_status(f"{url}/ping", 200, timeout=600)
        with rawhttp.connect(url) as sock:
            body = audio.read_bytes()
            sock.sendall(rawhttp.post_head("/invocations", len(body)) + body)
            wait_until(lambda: "stand-in transcribed" in log.read_text(), "a first window")
        # the socket is closed: the request ends with the window under way
        wait_until(lambda: bool(records(log)), "the request's log line")
        assert records(log)[0]["Outcome"] == "client_gone"
        windows = log.read_text().count("stand-in transcribed")
        assert 1 <= windows < 12
        response = httpx.post(f"{url}/invocations", content=body, timeout=600)
        assert response.status_code == 200  # the slot is free again
    assert "Traceback" not in log.read_text()


def test_a_client_that_leaves_while_queued_is_let_go_at_once(
    tmp_path: Path, data_dir: Path
) -> None:
    """One slot, held by two minutes of audio at 1 s a window: a second request whose client
    leaves while it waits ends then (its body off the disk, in_flight down), not when the slot
    frees; 30 such requests held 30 bodies on disk for 10 minutes."""
    model = standin_model(tmp_path / "standin", seconds_a_window=1)
    audio = sounding_flac(tmp_path / "minutes.flac", 120, data_dir)
    bodies = tmp_path / "bodies"
    bodies.mkdir()
    log = tmp_path / "server.log"
    env = {
        "WASYNC_WINDOW_SECONDS": "5",
        "WASYNC_MAX_CONCURRENCY": "1",
        "WASYNC_TMP_DIR": str(bodies),
    }
    body = audio.read_bytes()
    with serve_process(model, env, log_path=log) as (_, url):
        wait_for_status(f"{url}/ping", 200, timeout=600)
        with rawhttp.connect(url, timeout=600) as holding:
            holding.sendall(rawhttp.post_head("/invocations", len(body)) + body)
            wait_until(lambda: "stand-in transcribed" in log.read_text(), "the slot taken")
            with rawhttp.connect(url) as queued:
                queued.sendall(rawhttp.post_head("/invocations", len(body)) + body)
                wait_until(lambda: ping_in_flight(url) == 2, "the second request queued")
            # its client has gone; the first request still holds the slot
            wait_until(lambda: bool(records(log)), "the queued request's log line")
            assert records(log)[0]["Outcome"] == "client_gone"
            assert ping_in_flight(url) == 1 and len(list(bodies.iterdir())) == 1
            assert log.read_text().count("stand-in transcribed") < 24  # the first is not done
            response = rawhttp.read_response(holding)
        assert response.status == 200
    assert "Traceback" not in log.read_text()


def records(log: Path) -> list[dict[str, object]]:
    found = (requestlog.parse_line(line) for line in log.read_text().splitlines())
    return [record for record in found if record]
