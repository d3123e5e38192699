"""`wasync-serve` as a real process: what SageMaker runs as `docker run IMAGE serve`."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from bench.metrics import peak_rss_mib
from tests.helpers.processes import serve_process, wait_for_status


def wait_refused(url: str) -> bool:
    try:
        httpx.get(f"{url}/ping", timeout=2)
    except httpx.ConnectError:
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


def test_serves_ping_then_transcribes(tiny_en_dir: Path, data_dir: Path) -> None:
    with serve_process(tiny_en_dir) as (_, url):
        wait_for_status(f"{url}/ping", 200)
        response = httpx.post(
            f"{url}/invocations", content=(data_dir / "en_short.wav").read_bytes(), timeout=60
        )
        assert response.status_code == 200
        assert int(response.headers["content-length"]) == len(response.content)
        assert "transfer-encoding" not in response.headers
        assert "lazy dog" in response.json()["text"].lower()


def test_failed_load_makes_ping_500_and_logs_the_reason(tmp_path: Path) -> None:
    (tmp_path / "model.bin").write_bytes(b"not a model")
    (tmp_path / "config.json").write_text("{}")
    log = tmp_path / "server.log"
    with serve_process(tmp_path, log_path=log) as (_, url):
        wait_for_status(f"{url}/ping", 500)
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


def test_sigterm_lets_in_flight_work_finish_then_exits(tiny_en_dir: Path, data_dir: Path) -> None:
    audio = (data_dir / "en_30s.wav").read_bytes()
    with serve_process(tiny_en_dir) as (process, url):
        wait_for_status(f"{url}/ping", 200)
        responses: list[httpx.Response] = []
        worker = threading.Thread(
            target=lambda: responses.append(
                httpx.post(f"{url}/invocations", content=audio, timeout=60)
            )
        )
        worker.start()
        time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        worker.join()
        # uvicorn re-raises SIGTERM once drained, so the exit status says why it stopped.
        assert process.wait(timeout=30) in (0, -signal.SIGTERM)
        assert wait_refused(url)
    assert responses[0].status_code == 200
    assert "recognition has come a long way" in responses[0].json()["text"].lower()
