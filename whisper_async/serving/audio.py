"""Read any audio or video file with PyAV: its length from the container's packets, and its
samples as a stream of 16 kHz mono float32 chunks, so no caller needs the whole file in memory."""

from __future__ import annotations

import errno
import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SAMPLE_RATE = 16_000


class AudioDecodeError(ValueError):
    """The body is not audio we can decode."""


# FFmpeg picks a demuxer from the body's content. Only media containers are allowed: others read
# more than the body (`concat`, a text playlist, opens the files it names beside the body;
# `hls` and `dash` fetch playlists, `image2` globs, device inputs read the machine's hardware).
MEDIA_FORMATS = (
    "wav,w64,mp3,flac,ogg,mov,mp4,m4a,3gp,3g2,matroska,webm,aac,ac3,eac3,amr,amrnb,amrwb,"
    "aiff,au,caf,asf,avi,flv,mpeg,mpegts,wv,ape,tta,tak,mpc,mpc8,dts,dtshd,truehd,mlp,gsm,voc,"
    "xwma,wtv,nut,mxf,dv,rm,oma,qcp,nistsphere,sox,ircam,loas,dsf,shn,mmf,spdif"
)
OPEN_OPTIONS = {"format_whitelist": MEDIA_FORMATS, "protocol_whitelist": "file"}

# Resampling multiplies samples by 16 kHz / the input's rate, a whole frame at a time, before
# any length check can see them: a 34 KB body at 1 Hz (or one PCM frame of hours) took 9.6 GB.
# Real audio is 8 kHz and up, and a codec's frame lasts milliseconds.
MIN_SAMPLE_RATE = 2_000
MAX_FRAME_SECONDS = 60.0
RESAMPLE_HINT = "re-encode it: ffmpeg -i INPUT -ar 16000 -ac 1 OUTPUT.flac"


def _open(path: Path) -> Any:
    import av

    try:
        return av.open(str(path), metadata_errors="ignore", container_options=OPEN_OPTIONS)
    except av.error.FFmpegError as exc:
        if exc.errno == errno.EINVAL:  # what the format allowlist answers
            raise AudioDecodeError(
                "cannot decode the audio: not in an audio or video format the server reads "
                "(wav, mp3, flac, ogg/opus, m4a/mp4/mov, webm/mkv, aac, amr, wma, ...)"
            ) from exc
        raise _decode_error(exc) from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise AudioDecodeError(f"cannot decode the audio: {exc}") from exc


def _decode_error(exc: Any) -> AudioDecodeError:
    # strerror leaves out the server's temporary file name
    return AudioDecodeError(f"cannot decode the audio: {exc.strerror or exc}")


def _audio_stream(container: Any) -> Any:
    streams = [s for s in container.streams if s.type == "audio"]
    if not streams:
        raise AudioDecodeError(
            "the file has no audio stream (a video without sound, or not a media file)"
        )
    return streams[0]


def packet_seconds(path: Path, stop_after: float) -> float | None:
    """The audio stream's length from its packets' durations, without decoding anything.

    Counting stops once it passes `stop_after` seconds, so a huge file costs no more than the
    limit it is checked against; the length returned then is the container's own figure if it
    is larger (for the error message). None when the packets carry no durations (the length is
    then known only by decoding).
    """
    import av

    container = _open(path)
    try:
        stream = _audio_stream(container)
        if stream.time_base is None:
            return None
        ticks = 0
        limit = stop_after / float(stream.time_base)
        for packet in container.demux(stream):
            ticks += packet.duration or 0
            if ticks > limit:
                declared = (container.duration or 0) / av.time_base
                return max(float(ticks * stream.time_base), declared)
        return float(ticks * stream.time_base) if ticks else None
    except av.error.FFmpegError as exc:
        raise _decode_error(exc) from exc
    finally:
        container.close()


def stream_samples(path: Path, sample_rate: int = SAMPLE_RATE) -> Iterator[Any]:
    """The first audio stream as 16 kHz mono float32 numpy chunks, in order, as they decode.

    Samples pass through signed 16-bit, as ffmpeg's `-f s16le` does for whisper.load_audio and
    faster-whisper's decode_audio, so transcripts match theirs.
    """
    import av
    import numpy as np

    container = _open(path)
    produced = 0
    try:
        stream = _audio_stream(container)
        resampler = av.AudioResampler(format="s16", layout="mono", rate=sample_rate)
        for frame in container.decode(stream):
            _check_frame(frame)
            for resampled in resampler.resample(frame):
                chunk = resampled.to_ndarray().reshape(-1).astype(np.float32) / 32768.0
                produced += len(chunk)
                yield chunk
        for resampled in resampler.resample(None):
            chunk = resampled.to_ndarray().reshape(-1).astype(np.float32) / 32768.0
            produced += len(chunk)
            yield chunk
    except AudioDecodeError:
        raise
    except av.error.FFmpegError as exc:
        raise _decode_error(exc) from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise AudioDecodeError(f"cannot decode the audio: {exc}") from exc
    finally:
        container.close()
        # PyAV's resampler graph is freed only by a collection (faster-whisper issue 390; PyAV
        # 12-14 and 17 still leave cycles). The server freezes the model's objects out of it.
        gc.collect()
    if not produced:
        raise AudioDecodeError("the file decodes to no audio samples")


def _check_frame(frame: Any) -> None:
    """Refuse a frame that resampling would blow up (MIN_SAMPLE_RATE, MAX_FRAME_SECONDS)."""
    rate = frame.sample_rate or 0
    if rate < MIN_SAMPLE_RATE:
        raise AudioDecodeError(
            f"the audio's sample rate is {rate} Hz; the server reads {MIN_SAMPLE_RATE} Hz and "
            f"above: {RESAMPLE_HINT}"
        )
    seconds = frame.samples / rate
    if seconds > MAX_FRAME_SECONDS:
        raise AudioDecodeError(
            f"one frame of the audio lasts {seconds:.0f} s, where a codec's frames last "
            f"milliseconds (the server reads frames of up to {MAX_FRAME_SECONDS:.0f} s): "
            f"{RESAMPLE_HINT}"
        )


def decode_audio(path: Path, sample_rate: int = SAMPLE_RATE) -> Any:
    """The whole file in memory: for short clips (tests, benchmarks); the server uses windows."""
    import numpy as np

    return np.concatenate(list(stream_samples(path, sample_rate)))
