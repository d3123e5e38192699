"""Read any audio or video file with PyAV: its length from the container's packets, and its
samples as a stream of 16 kHz mono float32 chunks, so no caller needs the whole file in memory."""

from __future__ import annotations

import errno
import gc
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SAMPLE_RATE = 16_000
log = logging.getLogger("wasync.serve")


class AudioDecodeError(ValueError):
    """The body is not audio we can decode."""


# FFmpeg picks a demuxer from the body's content. Only media containers are allowed: others read
# more than the body (`concat`, a text playlist, opens the files it names beside the body;
# `hls` and `dash` fetch playlists, `image2` globs, device inputs read the machine's hardware).
MEDIA_FORMATS = (
    "wav,w64,mp3,flac,ogg,mov,mp4,m4a,3gp,3g2,matroska,webm,aac,ac3,eac3,amr,amrnb,amrwb,"
    "aiff,au,caf,asf,avi,flv,mpeg,mpegts,wv,ape,tta,tak,mpc,mpc8,dts,dtshd,truehd,mlp,gsm,voc,"
    "xwma,wtv,nut,mxf,dv,rm,oma,qcp,nistsphere,sox,ircam,loas,dsf,shn,mmf,spdif,"
    "dss,act,iff,avr,wve,pvf"  # dictation recorders (DSS, ACT), 8SVX/DSDIFF, sox's formats
)
OPEN_OPTIONS = {"format_whitelist": MEDIA_FORMATS, "protocol_whitelist": "file"}

# Resampling multiplies samples by 16 kHz / the input's rate, a whole frame at a time, before
# any length check can see them: a 34 KB body at 1 Hz (or one PCM frame of hours) took 9.6 GB.
# Real audio is 8 kHz and up, and a codec's frame lasts milliseconds.
MIN_SAMPLE_RATE = 2_000
# Above studio rates (384 kHz) resampling is the work: 2.4 MB of FLAC silence at 655,350 Hz
# held the slot 104 s, where 16 kHz silence of that length takes about 12 s.
MAX_SAMPLE_RATE = 384_000
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
    return AudioDecodeError(f"cannot decode the audio: {_why(exc)}")


def _why(exc: Any) -> str:
    import av

    if isinstance(exc, av.error.PatchWelcomeError):  # FFmpeg's "patches welcome"
        return "the file changes in a way FFmpeg does not support (a chained Ogg stream?)"
    return str(exc.strerror or exc)  # strerror leaves out the server's temporary file name


def _audio_stream(container: Any) -> Any:
    """The audio stream the ffmpeg command line would pick (FFmpeg's "best" stream: the one
    marked default, then the most channels): in a recording with a silent system-audio
    track first and the microphone's marked default, the first track was silence."""
    if not container.streams.audio:
        raise AudioDecodeError(
            "the file has no audio stream (a video without sound, or not a media file)"
        )
    return container.streams.best("audio") or container.streams.audio[0]


def packet_seconds(path: Path, stop_after: float) -> float | None:
    """The audio stream's length from its packets' durations, without decoding anything.

    Counting stops once it passes `stop_after` seconds, so a huge file costs no more than the
    limit it is checked against; the length returned then is the container's own figure if it
    is larger (for the error message). None when the packets carry no durations (the length is
    then known only by decoding).
    """
    import av

    container = _open(path)
    seconds = 0.0
    try:
        stream = _audio_stream(container)
        if stream.time_base is None:
            return None
        if container.format.name in UNTIMED_FORMATS:
            return None
        tick = float(stream.time_base)
        adts = container.format.name == "aac"
        for packet in _packets(container, stream):
            seconds += (adts and _adts_seconds(bytes(packet))) or (packet.duration or 0) * tick
            if seconds > stop_after:
                return max(seconds, (container.duration or 0) / av.time_base)
        return seconds or None
    except av.error.FFmpegError as exc:
        if seconds:  # part-way (a chained Ogg): decoding says how far the audio goes
            return None
        raise _decode_error(exc) from exc
    finally:
        container.close()


# Raw streams whose packets FFmpeg times at the first frame's rate, with no header of their
# own to correct it from (as ADTS has): their length is known by decoding
UNTIMED_FORMATS = frozenset({"loas"})
# ADTS's sampling_frequency_index (ISO/IEC 14496-3, 1.6.3.4)
ADTS_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000)


def _adts_seconds(frame: bytes) -> float | None:
    """An ADTS frame's length from its own header. FFmpeg times every packet of a raw AAC file
    at the first frame's rate, so joined files at other rates came out several times too
    long (a 20 s file counted as 65 s) or too short."""
    if len(frame) < 7 or frame[0] != 0xFF or frame[1] & 0xF0 != 0xF0:
        return None
    index = (frame[2] >> 2) & 0x0F
    if index >= len(ADTS_RATES):
        return None
    blocks = (frame[6] & 0x03) + 1  # number_of_raw_data_blocks_in_frame + 1, 1024 samples each
    return 1024 * blocks / ADTS_RATES[index]


def stream_samples(path: Path, sample_rate: int = SAMPLE_RATE) -> Iterator[Any]:
    """The first audio stream as 16 kHz mono float32 numpy chunks, in order, as they decode.

    Samples pass through signed 16-bit, as ffmpeg's `-f s16le` does for whisper.load_audio and
    faster-whisper's decode_audio, so transcripts match theirs. As the ffmpeg command line does,
    a packet that does not decode is skipped (see `_frames`), and a stream whose channels or
    rate change part-way (joined AAC or MP3 files) is resampled frame by frame.
    """
    import av

    container = _open(path)
    produced = 0
    try:
        stream = _audio_stream(container)
        resampler: Any = None
        shape: tuple[Any, ...] = ()
        for frame in _frames(container, stream):
            _check_frame(frame)
            frame_shape = (frame.format.name, frame.layout.name, frame.sample_rate)
            if frame_shape != shape:  # a resampler takes one input format for its whole life
                if resampler is not None:
                    for chunk in _resampled(resampler, None):
                        produced += len(chunk)
                        yield chunk
                resampler = av.AudioResampler(format="s16", layout="mono", rate=sample_rate)
                shape = frame_shape
            for chunk in _resampled(resampler, frame):
                produced += len(chunk)
                yield chunk
        if resampler is not None:
            for chunk in _resampled(resampler, None):
                produced += len(chunk)
                yield chunk
    except AudioDecodeError:
        raise
    except av.error.FFmpegError as exc:
        if not produced and shape and shape[1].endswith(" channels"):
            # "9 channels": no channel order, which FFmpeg cannot mix down past 8 (EINVAL)
            raise AudioDecodeError(
                f"cannot decode the audio: its {shape[1]} come in no order FFmpeg can mix down "
                "to mono; send mono or stereo audio (ffmpeg -i IN -ac 1 OUT.wav)"
            ) from exc
        if not produced:
            raise _decode_error(exc) from exc
        after = f"cannot decode the audio after {produced / sample_rate:.1f} s"
        if container.format.name == "ogg" and exc.errno == errno.EINVAL:
            # The next part of a chained Ogg is in another codec. ffmpeg's command line stops
            # there too (exit 0), so re-encoding the file would drop the rest without a word.
            raise AudioDecodeError(
                f"{after}: the Ogg file goes on in another codec (a chained Ogg, such as Vorbis "
                "then Opus), which FFmpeg cannot read past: send each part as its own file"
            ) from exc
        raise AudioDecodeError(f"{after}: {_why(exc)}: {RESAMPLE_HINT}") from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise AudioDecodeError(f"cannot decode the audio: {exc}") from exc
    finally:
        container.close()
        # PyAV's resampler graph is freed only by a collection (faster-whisper issue 390; PyAV
        # 12-14 and 17 still leave cycles). The server freezes the model's objects out of it.
        gc.collect()
    if not produced:
        raise AudioDecodeError("the file decodes to no audio samples")


def _resampled(resampler: Any, frame: Any) -> Iterator[Any]:
    import numpy as np

    for resampled in resampler.resample(frame):
        yield resampled.to_ndarray().reshape(-1).astype(np.float32) / 32768.0


def _packets(container: Any, stream: Any) -> Iterator[Any]:
    """The stream's packets. Data the demuxer cannot read after some packets (a file cut off
    mid-frame, another format's bytes appended) ends the stream there, as the ffmpeg command
    line ends it; at the start, or another kind of error, is the answer."""
    import av

    read = 0
    try:
        for packet in container.demux(stream):
            read += 1
            yield packet
    except av.error.InvalidDataError as exc:
        if not read:
            raise
        log.warning(
            "the audio ends early, after %d packets: what follows does not read as %s (%s)",
            read,
            container.format.name,
            exc.strerror or exc,
        )


def _frames(container: Any, stream: Any) -> Iterator[Any]:
    """The stream's decoded frames. A packet its decoder refuses (two MP3s joined, a few bytes
    lost mid-file) is skipped, as the ffmpeg command line skips it for whisper.load_audio: it
    costs that packet's milliseconds, not the request. Only when no packet decodes is the
    decoder's error the answer. Out of memory still fails at once."""
    import av

    skipped = 0
    first_error: Exception | None = None
    decoded_any = False
    for packet in _packets(container, stream):
        try:
            frames = packet.decode()
        except av.error.FFmpegError as exc:
            if isinstance(exc, MemoryError):
                raise
            skipped += 1
            first_error = first_error or exc
            continue
        decoded_any = decoded_any or bool(frames)
        yield from frames
    if first_error is not None and not decoded_any:
        raise first_error
    if skipped:
        log.warning("skipped %d audio packet(s) that did not decode: %s", skipped, first_error)


def _check_frame(frame: Any) -> None:
    """Refuse a frame that resampling would blow up or drag out (MIN_SAMPLE_RATE,
    MAX_SAMPLE_RATE, MAX_FRAME_SECONDS)."""
    rate = frame.sample_rate or 0
    if rate < MIN_SAMPLE_RATE:
        raise AudioDecodeError(
            f"the audio's sample rate is {rate} Hz; the server reads {MIN_SAMPLE_RATE} Hz and "
            f"above: {RESAMPLE_HINT}"
        )
    if rate > MAX_SAMPLE_RATE:
        raise AudioDecodeError(
            f"the audio's sample rate is {rate} Hz; the server reads up to {MAX_SAMPLE_RATE} Hz: "
            f"{RESAMPLE_HINT}"
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
