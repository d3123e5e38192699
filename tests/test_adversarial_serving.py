"""Issue 12's adversarial campaign against the serving container, kept as tests.

One real `wasync-serve` process (uvicorn, the real app, tiny.en) takes every attack: bad
bodies, bad custom attributes, broken HTTP. Each case checks the status code and that the JSON
message names the problem; the last test checks that the server still transcribes, and that
nothing along the way wrote a traceback to its log.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.helpers import mov_tables, rawhttp
from tests.helpers.audio import write_flac
from tests.helpers.processes import serve_process, wait_for_status, wait_until
from whisper_async import requestlog

BODY_IDLE_SECONDS = 3
HEAD_TIMEOUT_SECONDS = 3


@dataclass(frozen=True)
class Server:
    url: str
    log: Path
    bodies: Path  # where the server keeps request bodies (WASYNC_TMP_DIR)


@pytest.fixture(scope="module")
def server(tiny_en_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("adversarial") / "server.log"
    bodies = tmp_path_factory.mktemp("bodies")
    env = {
        "WASYNC_BODY_IDLE_SECONDS": str(BODY_IDLE_SECONDS),
        "WASYNC_HEAD_TIMEOUT_SECONDS": str(HEAD_TIMEOUT_SECONDS),
        "WASYNC_TMP_DIR": str(bodies),
    }
    with serve_process(tiny_en_dir, env, log_path=log) as (_, url):
        wait_for_status(f"{url}/ping", 200, timeout=600)
        yield Server(url, log, bodies)


def post(
    server: Server, content: bytes, headers: dict[str, str | bytes] | None = None
) -> httpx.Response:
    return httpx.post(f"{server.url}/invocations", content=content, headers=headers, timeout=600)


def assert_error(
    response: httpx.Response | rawhttp.RawResponse, status: int, code: str, *words: str
) -> None:
    """The status, the JSON shape docs/serving.md promises, and a message naming the problem."""
    got = response.status_code if isinstance(response, httpx.Response) else response.status
    body = response.json()
    assert got == status, body
    assert set(body) == {"error", "message"}
    assert body["error"] == code
    for word in words:
        assert word in body["message"], body["message"]


# ---- bad bodies ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ten_hours_of_silence(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_flac(tmp_path_factory.mktemp("silence") / "ten-hours.flac", 10 * 3600)


@pytest.fixture(scope="module")
def video_without_sound(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import av
    import numpy as np

    path = tmp_path_factory.mktemp("video") / "silent-film.mp4"
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"  # type: ignore[union-attr]  # a video stream
        for _ in range(10):
            frame = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")
            for packet in stream.encode(frame):  # type: ignore[union-attr]
                container.mux(packet)
        for packet in stream.encode(None):  # type: ignore[union-attr]
            container.mux(packet)
    return path


def test_empty_body(server: Server) -> None:
    assert_error(post(server, b""), 400, "empty_body", "body is empty")


def test_body_truncated_to_its_header(server: Server, data_dir: Path) -> None:
    header_only = (data_dir / "en_short.wav").read_bytes()[:44]
    assert_error(post(server, header_only), 415, "undecodable_audio", "no audio samples")


def test_body_truncated_half_way_is_transcribed_as_far_as_it_goes(
    server: Server, data_dir: Path
) -> None:
    whole = (data_dir / "en_short.wav").read_bytes()
    response = post(server, whole[: len(whole) // 2])
    assert response.status_code == 200
    assert 1.5 < response.json()["duration"] < 1.9


def test_corrupt_body(server: Server, data_dir: Path) -> None:
    corrupt = (data_dir / "corrupt.mp3").read_bytes()
    assert_error(post(server, corrupt), 415, "undecodable_audio", "cannot decode")


def test_two_mp3s_joined_are_transcribed_whole(
    server: Server, data_dir: Path, tmp_path: Path
) -> None:
    """`cat a.mp3 b.mp3`: the second file's header is one packet the decoder refuses. It used to
    fail the whole request (415); it is skipped, as the ffmpeg command line skips it."""
    second = tmp_path / "numbers.mp3"
    encode = ["ffmpeg", "-v", "error", "-i", str(data_dir / "en_numbers.wav"), "-ar", "44100"]
    subprocess.run([*encode, str(second)], check=True)
    body = (data_dir / "en_short.mp3").read_bytes() + second.read_bytes()
    response = post(server, body)
    assert response.status_code == 200, response.text
    text = response.json()["text"].lower()
    assert "fox" in text and "tomorrow" in text, text
    assert "WARNING wasync.serve: skipped 1 audio packet(s)" in server.log.read_text()


def test_huge_declared_length_is_refused_before_reading(server: Server) -> None:
    request = rawhttp.post_head("/invocations", 5 << 30) + b"x" * 100
    response = rawhttp.exchange(server.url, request)
    assert_error(response, 413, "body_too_large", "5368709120 bytes", "WASYNC_MAX_BODY_BYTES")
    assert response.headers["connection"] == "close"


def test_a_request_refused_by_its_headers_closes_the_connection(server: Server) -> None:
    """A bad option in the header with a 500 MB body: the server read and dropped all of it
    to reach the next request on the connection."""
    request = (
        rawhttp.post_head(
            "/invocations", 500 << 20, "X-Amzn-SageMaker-Custom-Attributes: language=xx\r\n"
        )
        + b"x" * 100
    )
    response = rawhttp.exchange(server.url, request)
    assert_error(response, 422, "invalid_option", "language='xx'")
    assert response.headers["connection"] == "close"
    wrong_path = rawhttp.exchange(server.url, rawhttp.post_head("/invocation", 500 << 20))
    assert_error(wrong_path, 404, "not_found", "no such path")
    assert wrong_path.headers["connection"] == "close"


def test_a_ping_with_a_body_it_does_not_read_closes_the_connection(server: Server) -> None:
    """GET /ping declaring 100 MB, then a byte now and then: the 200 left the connection open
    past every timeout while the body trickled in."""
    with rawhttp.connect(server.url, timeout=120) as sock:
        sock.sendall(b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000000\r\n\r\nx")
        response = rawhttp.read_response(sock)
        assert response.status == 200 and response.headers["connection"] == "close"
        while sock.recv(65536):  # the server closes its end: recv ends with b""
            pass


def test_wrong_content_type_with_a_json_body(server: Server) -> None:
    response = post(server, b'{"audio": "aGVsbG8="}', {"Content-Type": "application/json"})
    assert_error(
        response, 415, "undecodable_audio", "cannot decode", "must be the audio file itself"
    )


def test_a_form_upload_is_told_to_send_the_file_itself(server: Server, data_dir: Path) -> None:
    """`curl -F file=@talk.wav` wraps the WAV in a multipart form: FFmpeg's "Invalid data"
    alone left the user guessing."""
    response = httpx.post(
        f"{server.url}/invocations",
        files={"file": ("talk.wav", (data_dir / "en_short.wav").read_bytes(), "audio/wav")},
        timeout=600,
    )
    assert_error(response, 415, "undecodable_audio", "sent as multipart/form-data", "--data-binary")


def test_an_upgrade_request_is_served_plainly_and_leaves_no_warning(server: Server) -> None:
    """uvicorn warned twice for each (to `pip install 'uvicorn[standard]'`): any client could
    fill the log with advice that is wrong for a server without WebSockets by choice."""
    upgrade = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13"}
    before = server.log.read_text()
    for _ in range(3):
        response = httpx.get(f"{server.url}/ping", headers=upgrade, timeout=600)
        assert response.status_code == 200
    assert httpx.get(f"{server.url}/ping", timeout=600).status_code == 200  # the log is flushed
    added = server.log.read_text()[len(before) :]
    assert "WebSocket" not in added and "upgrade" not in added.lower()


def test_broken_audio_sent_by_curl_data_binary_is_not_told_to_use_curl_data_binary(
    server: Server, data_dir: Path
) -> None:
    """curl --data-binary labels any body x-www-form-urlencoded: a cut-off FLAC got the hint
    to send the file itself, in place of the real reason; a real form still gets it."""
    form = "application/x-www-form-urlencoded"
    cut = (data_dir / "en_short.wav").read_bytes()[:30]
    response = post(server, cut, {"Content-Type": form})
    assert response.status_code == 415
    assert "must be the audio file itself" not in response.json()["message"]
    typed = post(server, b"audio=UklGRiQAAABXQVZF", {"Content-Type": form})
    assert_error(typed, 415, "undecodable_audio", "sent as application/x-www-form-urlencoded")


@pytest.mark.parametrize("named", ["speech.wav", "fifo"])
def test_a_playlist_body_cannot_read_files_beside_it(
    server: Server, data_dir: Path, named: str
) -> None:
    """FFmpeg's concat demuxer, picked from a text body, would open the files it names next to
    the body: another user's audio, or a FIFO that would hold the worker for good."""
    shutil.copy(data_dir / "en_short.wav", server.bodies / "speech.wav")
    if not (server.bodies / "fifo").exists():
        os.mkfifo(server.bodies / "fifo")
    playlist = f"ffconcat version 1.0\nfile {named}\n".encode()
    assert_error(
        post(server, playlist), 415, "undecodable_audio", "not in an audio or video format"
    )


def _one_hertz_for_four_hours(path: Path) -> Path:
    """14 KB of WAV that resampling to 16 kHz would turn into 4 hours of samples."""
    import wave

    with wave.open(str(path), "wb") as body:
        body.setnchannels(1)
        body.setsampwidth(1)
        body.setframerate(1)
        body.writeframes(bytes(range(96, 160)) * 225)  # 14,400 samples at 1 Hz: 4 hours
    return path


def _silence_at_655_khz(path: Path) -> Path:
    """FLAC's highest rate, where resampling to 16 kHz is the work (2.4 MB of FLAC took 104 s);
    here as PCM, which FFmpeg writes at any rate."""
    silence = "anullsrc=r=655350:cl=mono"
    command = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", silence, "-t", "0.1"]
    subprocess.run([*command, "-c:a", "pcm_u8", "-f", "matroska", str(path)], check=True)
    return path


def _one_frame_of_seventy_seconds(path: Path) -> Path:
    """PCM in Matroska whose only frame lasts 70 s: resampled whole, before any length check."""
    noise = "anoisesrc=r=2000:d=70:a=0.1,asetnsamples=n=140000:p=0"
    command = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", noise, "-c:a", "pcm_u8"]
    subprocess.run([*command, str(path)], check=True)
    return path


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (_one_hertz_for_four_hours, ("sample rate is 1 Hz", "2000 Hz", "ffmpeg -i INPUT")),
        (_one_frame_of_seventy_seconds, ("one frame of the audio lasts 70 s", "ffmpeg -i INPUT")),
        (_silence_at_655_khz, ("sample rate is 655350 Hz", "up to 384000 Hz", "ffmpeg -i INPUT")),
    ],
    ids=["1-hz", "70-s-frame", "655-khz"],
)
def test_a_body_that_resampling_would_blow_up_is_refused_before_it_is(
    server: Server, tmp_path: Path, make: Callable[[Path], Path], words: tuple[str, ...]
) -> None:
    """A 34 KB body at 1 Hz took the server to 9.6 GB: each frame is resampled whole."""
    body = make(tmp_path / "body.mkv").read_bytes()
    assert len(body) < 150_000
    assert_error(post(server, body), 415, "undecodable_audio", *words)
    assert httpx.get(f"{server.url}/ping", timeout=60).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        mov_tables.movie(mov_tables.audio_track(30_000_000)),
        mov_tables.movie(mov_tables.audio_track(16), after_moov=mov_tables.fragment(30_000_000)),
    ],
    ids=["stsz", "trun"],
)
def test_a_few_hundred_bytes_declaring_millions_of_samples_are_refused(
    server: Server, body: bytes
) -> None:
    """4.6 KB of MOV declaring 89 million samples took 3.4 GB inside av.open, and seven such
    tracks killed the server; decoding now happens in a capped child (decoder_process.py)."""
    assert len(body) < 1000
    response = post(server, body, {"Content-Type": "video/quicktime"})
    assert_error(response, 415, "undecodable_audio")
    assert httpx.get(f"{server.url}/ping", timeout=60).status_code == 200


def test_video_with_no_audio(server: Server, video_without_sound: Path) -> None:
    response = post(server, video_without_sound.read_bytes(), {"Content-Type": "video/mp4"})
    assert_error(response, 415, "undecodable_audio", "no audio stream")


def test_ten_hours_of_silence_is_refused_by_its_length_without_decoding(
    server: Server, ten_hours_of_silence: Path
) -> None:
    assert ten_hours_of_silence.stat().st_size < 1 << 20  # under a megabyte on the wire
    response = post(server, ten_hours_of_silence.read_bytes())
    assert_error(
        response, 413, "audio_too_long", "10:00:00 long", "4:00:00", "WASYNC_MAX_AUDIO_SECONDS"
    )


def test_a_tenth_of_a_second_gets_times_within_it(server: Server, data_dir: Path) -> None:
    import io
    import wave

    with wave.open(str(data_dir / "en_numbers.wav"), "rb") as source:
        rate = source.getframerate()
        source.setpos(int(1.5 * rate))
        frames = source.readframes(rate // 10)
        params = source.getparams()
    clip = io.BytesIO()
    with wave.open(clip, "wb") as out:
        out.setparams(params)
        out.writeframes(frames)
    response = post(server, clip.getvalue())
    assert response.status_code == 200
    result = response.json()
    assert result["duration"] == pytest.approx(0.1, abs=0.001)
    for segment in result["segments"]:
        assert 0 <= segment["start"] <= segment["end"] <= result["duration"]


# ---- bad custom attributes ----------------------------------------------------------------

ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"


@pytest.mark.parametrize(
    ("header", "code", "words"),
    [
        pytest.param(
            "initial_prompt=" + "a" * 1100, "invalid_option", ["limit is 1024"], id="too-long"
        ),
        pytest.param(
            "language=d\xe9".encode("latin-1"),
            "invalid_option",
            ["printable ASCII"],
            id="non-ascii",
        ),
        pytest.param(
            "colour=red", "invalid_option", ["unknown option 'colour'", "allowed"], id="unknown-key"
        ),
        pytest.param(
            "beam_size=999", "invalid_option", ["beam_size=999", "out of range"], id="bad-value"
        ),
        pytest.param(
            "word_timestamps=maybe", "invalid_option", ["not a boolean"], id="bad-boolean"
        ),
        pytest.param("language", "invalid_option", ["not key=value"], id="no-value"),
        pytest.param(
            "format=json%0d%0aSet-Cookie:%20a=1",
            "invalid_option",
            ["is invalid", "allowed"],
            id="header-injection",
        ),
        pytest.param(
            "language=en';DROP TABLE jobs;--",
            "invalid_option",
            ["not a Whisper language code"],
            id="sql-like",
        ),
        pytest.param(
            "task=$(reboot)", "invalid_option", ["task='$(reboot)' is invalid"], id="shell-like"
        ),
        pytest.param(
            "format=../../etc/passwd",
            "invalid_option",
            ["format='../../etc/passwd'"],
            id="path-like",
        ),
    ],
)
def test_bad_custom_attributes(
    server: Server, header: str | bytes, code: str, words: list[str]
) -> None:
    status = 409 if code == "unsupported_language" else 422
    assert_error(post(server, b"x", {ATTRIBUTES: header}), status, code, *words)


def test_options_in_the_url_or_in_two_headers_are_refused_not_ignored(
    server: Server, data_dir: Path
) -> None:
    """`?language=de&format=srt` got an English JSON transcript, and a second attributes header
    was dropped without a word."""
    audio = (data_dir / "en_short.wav").read_bytes()
    response = httpx.post(
        f"{server.url}/invocations?language=de&format=srt", content=audio, timeout=600
    )
    assert_error(response, 422, "invalid_option", "language=de&format=srt", ATTRIBUTES)
    with rawhttp.connect(server.url, timeout=600) as sock:
        twice = f"{ATTRIBUTES}: format=srt\r\n{ATTRIBUTES}: language=en\r\n"
        sock.sendall(rawhttp.post_head("/invocations", len(audio), twice) + audio)
        refused = rawhttp.read_response(sock)
    assert_error(refused, 422, "invalid_option", f"2 {ATTRIBUTES} headers", "send one")


def test_a_language_the_model_lacks_is_refused_before_the_body_is_read(server: Server) -> None:
    """tiny.en and language=de: the 409 came after the upload, the wait for a slot and the
    decode (35 s behind another job), where a bad value is answered at once."""
    with rawhttp.connect(server.url, timeout=600) as sock:
        sock.sendall(
            rawhttp.post_head("/invocations", 10_000_000, f"{ATTRIBUTES}: language=de\r\n")
        )
        sock.sendall(b"\0" * 1000)  # the rest of the body never comes
        response = rawhttp.read_response(sock)
    assert_error(response, 409, "unsupported_language", "English-only")


# ---- broken HTTP --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "request_bytes",
    [
        pytest.param(b"HELLO\r\n\r\n", id="malformed-request-line"),
        pytest.param(
            b"POST /invocations HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n", id="header-without-colon"
        ),
        pytest.param(
            b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n",
            id="content-length-not-a-number",
        ),
        pytest.param(
            b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            id="conflicting-lengths",
        ),
        pytest.param(
            b"POST /invocations HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
            id="unsupported-transfer-encoding",
        ),
    ],
)
def test_malformed_http_gets_a_json_400(server: Server, request_bytes: bytes) -> None:
    response = rawhttp.exchange(server.url, request_bytes)
    assert response.headers["content-type"] == "application/json"
    assert_error(response, 400, "bad_request", "not valid HTTP/1.1")


def test_both_lengths_get_a_400_and_the_connection_closes(server: Server) -> None:
    """h11 lets chunked win over Content-Length; a proxy in front might have read the other."""
    request = (
        b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    )
    response = rawhttp.exchange(server.url, request)
    assert_error(response, 400, "bad_request", "both Content-Length and Transfer-Encoding")
    assert response.headers["connection"] == "close"


@pytest.mark.parametrize(
    ("method", "path", "status", "code", "words"),
    [
        ("GET", "/invocations", 405, "method_not_allowed", ["GET is not allowed", "POST"]),
        ("PUT", "/ping", 405, "method_not_allowed", ["PUT is not allowed"]),
        ("POST", "/predict", 404, "not_found", ["/predict", "POST /invocations"]),
        ("GET", "/../../etc/passwd", 404, "not_found", ["no such path"]),
    ],
)
def test_wrong_method_or_path(
    server: Server, method: str, path: str, status: int, code: str, words: list[str]
) -> None:
    response = rawhttp.exchange(
        server.url, f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    )
    assert_error(response, status, code, *words)


def test_a_long_unknown_path_is_not_echoed_whole(server: Server) -> None:
    # A 20,000-character path came back whole in the 404's JSON.
    path = "/" + "a" * 20000
    response = rawhttp.exchange(
        server.url, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    )
    assert_error(response, 404, "not_found", "no such path", "/" + "a" * 199 + "...")
    assert len(response.body) < 1000


def test_abandoned_uploads_leave_one_short_line_each_and_no_traceback(server: Server) -> None:
    """Issue 12: 600 aborted uploads wrote 25,000 log lines of tracebacks."""
    short_line = "client disconnected during the upload"

    def counts() -> tuple[int, int]:
        lines = server.log.read_text().splitlines()
        records = [requestlog.parse_line(line) for line in lines]
        abandoned = [r for r in records if r and r["Outcome"] == "client_disconnected"]
        return sum(short_line in line for line in lines), len(abandoned)

    before = counts()
    lines_before = len(server.log.read_text().splitlines())
    uploads = 20
    for _ in range(uploads):
        with rawhttp.connect(server.url) as sock:
            sock.sendall(rawhttp.post_head("/invocations", 1 << 20) + b"\0" * 65536)
    expected = (before[0] + uploads, before[1] + uploads)
    wait_until(lambda: counts() == expected, "the server logging every abandoned upload")
    new_lines = server.log.read_text().splitlines()[lines_before:]
    # nothing but the short line and the request line (of these, or of the test before)
    assert [
        line for line in new_lines if short_line not in line and not requestlog.parse_line(line)
    ] == []
    assert "Traceback" not in server.log.read_text()


def test_a_body_that_stops_arriving_gets_a_408(server: Server) -> None:
    with rawhttp.connect(server.url) as sock:
        sock.sendall(rawhttp.post_head("/invocations", 100_000) + b"\0" * 1000)
        response = rawhttp.read_response(sock)  # the server's idle timeout answers
    assert_error(
        response,
        408,
        "body_timeout",
        "1000 bytes came in",
        f"{BODY_IDLE_SECONDS} s",
        "WASYNC_BODY_IDLE_SECONDS",
    )
    assert response.headers["connection"] == "close"


def test_headers_that_stop_half_way_get_a_408_and_the_socket_is_freed(server: Server) -> None:
    """Slowloris: half a head, then nothing. uvicorn alone held such a socket for ever."""
    with rawhttp.connect(server.url) as sock:
        sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le")
        response = rawhttp.read_response(sock)
        assert sock.recv(1) == b""  # and then closed
    assert_error(
        response, 408, "head_timeout", f"{HEAD_TIMEOUT_SECONDS} s", "WASYNC_HEAD_TIMEOUT_SECONDS"
    )
    assert response.headers["connection"] == "close"


def test_a_connection_that_never_sends_a_byte_is_closed(server: Server) -> None:
    with rawhttp.connect(server.url) as sock:
        assert sock.recv(1) == b""  # closed by the server, with nothing to answer


def test_a_kept_alive_connection_times_only_a_head_that_has_begun(server: Server) -> None:
    """After a whole request the connection idles under the keep-alive limit (75 s, longer
    than SageMaker's reuse); the head's limit starts with the next request's first byte."""
    ping = b"GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    with rawhttp.connect(server.url) as idle:
        idle.sendall(ping)
        assert rawhttp.read_response(idle).status == 200
        # A half head sent after the idle connection's last byte: once the server has timed
        # it out, any limit on the idle connection would have run out too.
        with rawhttp.connect(server.url) as late:
            late.sendall(b"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            assert rawhttp.read_response(late).status == 408
        idle.setblocking(False)
        with pytest.raises(BlockingIOError):  # nothing to read, and not closed
            idle.recv(1)
        idle.settimeout(120)
        idle.sendall(ping)
        assert rawhttp.read_response(idle).status == 200


def test_a_flood_of_idle_connections_past_the_descriptor_limit_logs_a_line_and_passes(
    tiny_en_dir: Path, tmp_path: Path
) -> None:
    """Out of file descriptors, asyncio logged a traceback for every connection waiting to be
    accepted (79 MB in 25 s in a trial). Now: a line now and then; the idle connections are
    closed by the head's limit, and the server serves again."""
    import resource

    log = tmp_path / "server.log"
    env = {"WASYNC_HEAD_TIMEOUT_SECONDS": str(HEAD_TIMEOUT_SECONDS)}
    with serve_process(tiny_en_dir, env, log_path=log) as (process, url):
        wait_for_status(f"{url}/ping", 200, timeout=600)
        resource.prlimit(process.pid, resource.RLIMIT_NOFILE, (96, 96))
        flood = [rawhttp.connect(url) for _ in range(300)]  # the kernel queues what it cannot take
        try:
            wait_until(lambda: "accept" in log.read_text(), "the server to run out of descriptors")
        finally:
            for sock in flood:
                sock.close()
        wait_for_status(f"{url}/ping", 200, timeout=600)  # it serves again
    text = log.read_text()
    assert "cannot accept connections" in text
    assert text.count("out of system resource") <= 5 and "Traceback" not in text, text[-2000:]


# ---- and after all that -------------------------------------------------------------------


def test_after_every_attack_the_server_still_transcribes(server: Server, data_dir: Path) -> None:
    assert httpx.get(f"{server.url}/ping", timeout=60).status_code == 200
    response = post(server, (data_dir / "en_short.wav").read_bytes(), {"Accept": "text/plain"})
    assert response.status_code == 200
    assert "lazy dog" in response.text.lower()
    assert "Traceback" not in server.log.read_text()
