"""Decode a request's audio in a child process whose memory is capped, and stream its samples.

FFmpeg can allocate far more than a body's size before it returns one packet: its mov demuxer
(MP4, M4A, MOV) sets aside about 35 bytes for each sample that a four-byte count declares, so
4.6 KB took 3.4 GB inside `av.open`, and seven such tracks killed the server. FFmpeg reads
such counts in many places (past a box's end, from boxes it guesses are the movie), and when
an allocation fails it may carry on with an empty index instead of failing, so neither reading
the boxes first nor demuxing once under a cap would hold. All of FFmpeg's work for a request
(demuxing, decoding, resampling) therefore runs in a child whose data segment and CPU time are
capped; the server receives 16 kHz float32 samples through a pipe and never opens the body
itself. A body that needs more, or crashes the child, is refused (415); the server lives on.

Children are forked by a small decoder server (`python -m whisper_async.serving.decoder_process`)
that has imported PyAV and numpy once, so a request costs a fork, not an interpreter's start
(`bench/fixed_cost.py`). The server hands it a pipe per request over a Unix socket.
"""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import signal
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from .audio import RESAMPLE_HINT, SAMPLE_RATE, AudioDecodeError, packet_seconds, stream_samples

# What a child may allocate beyond what it holds when forked. Decoding audio takes a few MB;
# an hour of AAC indexes 170,000 packets (6 MB), a video file's index tens of MB.
DECODER_MEMORY_BYTES = 512 * 1024 * 1024
# CPU seconds a child may spend: decoding four hours of audio takes about a minute.
DECODER_CPU_SECONDS = 600
# The longest the server waits for one message: demuxing a whole 1 GB body to measure it.
ANSWER_SECONDS = 300.0
SAMPLES_PER_MESSAGE = SAMPLE_RATE  # one second of audio per message through the pipe

# One tag byte per message, then its payload.
_LENGTH, _SAMPLES, _END, _UNDECODABLE, _OUT_OF_MEMORY = b"L", b"S", b"E", b"X", b"M"
_FORKED, _FAILED = b"k", b"!"  # the decoder server's answers: its child runs, or why not
# A request: stop_after (float64), then the path, at most PATH_MAX (4096) bytes on Linux.
REQUEST_BYTES = 8 + 65536


class DecoderUnavailableError(OSError):
    """No child could be started for this request (a process limit, or the decoder server
    died twice): the body is fine, so the answer is 503 and the client may try again."""


@dataclass
class DecodedAudio:
    """`seconds`: the length from the container's packets (None when they carry none);
    `samples`: 16 kHz mono float32 chunks, as `audio.stream_samples` yields them."""

    seconds: float | None
    samples: Iterator[Any]


@contextmanager
def decoded_in_child(path: Path, stop_after: float) -> Iterator[DecodedAudio]:
    """Measure and decode `path` in a capped child. The length comes first, so a caller can
    refuse a long file before any sample is decoded; leaving the block stops the child."""
    receiving, child = _SERVER.start(path, stop_after)
    try:
        tag, payload = _receive(receiving)
        seconds = struct.unpack("<d", payload)[0] if tag == _LENGTH and payload else None
        yield DecodedAudio(seconds, _samples(receiving))
    finally:
        receiving.close()
        _stop_child(child)


def _stop_child(child: int | None) -> None:
    """Kill the child by its pidfd (one that waits on a FIFO, or is still demuxing, would not
    notice the closed pipe); a pidfd cannot name another process that reused the pid."""
    if child is None:
        return
    try:
        signal.pidfd_send_signal(child, signal.SIGKILL)
    except ProcessLookupError:
        pass  # it has ended
    finally:
        os.close(child)


def prestart() -> None:
    """Start the decoder server now, so that the first request does not wait for it."""
    _SERVER.ensure_running()


def _samples(receiving: Connection) -> Iterator[Any]:
    import numpy as np

    while True:
        tag, payload = _receive(receiving)
        if tag == _END:
            return
        yield np.frombuffer(payload, dtype=np.float32)


def _receive(receiving: Connection) -> tuple[bytes, bytes]:
    """The child's next message; its failures as AudioDecodeError."""
    if not receiving.poll(ANSWER_SECONDS):
        raise AudioDecodeError(
            f"cannot decode the audio: reading it took over {ANSWER_SECONDS:.0f} s: {RESAMPLE_HINT}"
        )
    try:
        message = receiving.recv_bytes()
    except (EOFError, OSError):  # the child died: a cap, or FFmpeg aborted
        raise _too_much() from None
    tag, payload = message[:1], message[1:]
    if tag == _UNDECODABLE:
        raise AudioDecodeError(payload.decode("utf-8", "replace"))
    if tag == _OUT_OF_MEMORY:
        raise _too_much()
    return tag, payload


def _too_much() -> AudioDecodeError:
    return AudioDecodeError(
        f"cannot decode the audio: its decoder stopped before the end (reading it needs more "
        f"than {DECODER_MEMORY_BYTES // (1024 * 1024)} MB of memory or {DECODER_CPU_SECONDS} s "
        f"of CPU, as a container whose tables declare far more than the file holds does, or "
        f"FFmpeg crashed on it): {RESAMPLE_HINT}"
    )


class _DecoderServer:
    """The forking process, started on first use and again if it died."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def ensure_running(self) -> socket.socket:
        with self._lock:
            return self._running()

    def _running(self) -> socket.socket:
        alive = self._process is not None and self._process.poll() is None
        if self._socket is not None and alive:
            return self._socket
        self._stop()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        isolated = ["-I"] if sys.flags.isolated else []  # as the server runs (local stack)
        command = [sys.executable, *isolated, "-m", __name__, str(theirs.fileno())]
        self._process = subprocess.Popen(
            command, pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL
        )
        theirs.close()
        self._socket = ours
        return ours

    def _stop(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        if self._process is not None:
            if self._process.poll() is None:
                self._process.kill()
            self._process.wait()
            self._process = None

    def start(self, path: Path, stop_after: float) -> tuple[Connection, int | None]:
        """A child decoding `path`: the pipe its messages come through, and its pidfd (None
        where the platform has none). One request is on the socket at a time (the decoder
        server answers each once its child is forked), so a stream socket never joins two."""
        read_end, write_end = os.pipe()
        request = struct.pack("<d", stop_after) + os.fsencode(path)
        try:
            with self._lock:
                reap_orphans()
                answer = self._send(request, write_end)
        except BaseException:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)
        return Connection(read_end, readable=True, writable=False), answer

    def _send(self, request: bytes, write_end: int) -> int | None:
        for attempt in (1, 2):
            try:
                control = self._running()
                socket.send_fds(control, [request], [write_end])
                answer, fds, _, _ = socket.recv_fds(control, 512, 1)
                if not answer:
                    raise ConnectionError("it closed its socket")
            except OSError as error:  # the decoder server died: start another, once
                self._stop()
                if attempt == 2:
                    raise DecoderUnavailableError(f"the decoder server failed: {error}") from error
                continue
            child = fds[0] if fds else None
            if answer[:1] == _FORKED:
                return child
            if child is not None:
                os.close(child)
            reason = answer[1:].decode("utf-8", "replace")
            raise DecoderUnavailableError(f"the server could not start a decoder: {reason}")
        raise AssertionError("unreachable")


def reap_orphans() -> None:
    """As PID 1 (the server in its container), reap the children of a decoder server that
    died: they are the server's now, and nothing else waits for them."""
    if os.getpid() != 1:
        return
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


_SERVER = _DecoderServer()


# ---- the decoder server and its children ------------------------------------------------------
def serve(control: socket.socket) -> None:
    """Fork a child for each request until the server closes the socket."""
    import av  # noqa: F401 - imported once here, inherited by every child
    import numpy  # noqa: F401

    from .main import LOG_FORMAT

    # the children's warnings (packets skipped) as the server's own log lines
    logging.basicConfig(level=logging.WARNING, format=LOG_FORMAT, stream=sys.stdout)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    # Ctrl-C and SIGTERM are the server's: during its drain period the requests in flight
    # still need their children (a process-group stop reaches them too). This process ends
    # when the server closes the socket, and a child at its next write to a closed pipe.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while True:
        message, fds, _, _ = socket.recv_fds(control, REQUEST_BYTES, 1)
        if not message:
            return  # the server exited
        try:
            _fork_child(control, message, fds)
        except Exception as exc:  # a request it cannot read, or no fork (a process limit)
            control.sendall(_FAILED + f"{type(exc).__name__}: {exc}".encode())
        finally:
            for fd in fds:
                os.close(fd)


def _fork_child(control: socket.socket, message: bytes, fds: list[int]) -> None:
    if len(fds) != 1 or len(message) < 9:
        raise ValueError("a request is a stop_after, a path and one pipe")
    stop_after = struct.unpack("<d", message[:8])[0]
    path = os.fsdecode(message[8:])
    pid = os.fork()
    if pid == 0:
        try:
            control.close()
            _decode(path, stop_after, fds[0])
        finally:
            os._exit(0)  # never back into the serve loop, whatever happened
    child = _pidfd(pid)
    try:
        socket.send_fds(control, [_FORKED], [] if child is None else [child])
    finally:
        if child is not None:
            os.close(child)


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):  # macOS, or a kernel before 5.3
        return None


def _decode(path: str, stop_after: float, fd: int) -> None:
    _cap_resources()
    sending = Connection(fd, readable=False, writable=True)
    try:
        seconds = packet_seconds(Path(path), stop_after)
        sending.send_bytes(_LENGTH + (b"" if seconds is None else struct.pack("<d", seconds)))
        for chunk in _batched(stream_samples(Path(path))):
            sending.send_bytes(_SAMPLES + chunk.tobytes())
        sending.send_bytes(_END)
    except AudioDecodeError as exc:
        if isinstance(exc.__cause__, MemoryError):  # PyAV raises FFmpeg's ENOMEM as one
            sending.send_bytes(_OUT_OF_MEMORY)
        else:
            sending.send_bytes(_UNDECODABLE + str(exc).encode("utf-8"))
    except MemoryError:
        sending.send_bytes(_OUT_OF_MEMORY)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server stopped reading: the file was too long, or the client left
    except Exception as exc:  # the body is not the file it was (a folder, a FIFO...)
        sending.send_bytes(_UNDECODABLE + f"cannot decode the audio: {exc}".encode())


def _batched(chunks: Iterator[Any]) -> Iterator[Any]:
    """A codec's frames (milliseconds each) joined into messages of about a second."""
    import numpy as np

    pending: list[Any] = []
    count = 0
    for chunk in chunks:
        pending.append(chunk)
        count += len(chunk)
        if count >= SAMPLES_PER_MESSAGE:
            yield np.concatenate(pending)
            pending, count = [], 0
    if pending:
        yield np.concatenate(pending)


def _cap_resources() -> None:
    """CPU time, and RLIMIT_DATA (heap and private mappings, since Linux 4.7) at what the
    child holds plus DECODER_MEMORY_BYTES; where /proc is missing (macOS), CPU time only."""
    resource.setrlimit(resource.RLIMIT_CPU, (DECODER_CPU_SECONDS, DECODER_CPU_SECONDS))
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            in_use = next(int(line.split()[1]) * 1024 for line in status if line[:7] == "VmData:")
    except (OSError, StopIteration, ValueError):
        return
    limit = in_use + DECODER_MEMORY_BYTES
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))


if __name__ == "__main__":
    serve(socket.socket(fileno=int(sys.argv[1])))
