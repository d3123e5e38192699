"""Decode any audio or video file once, with PyAV, to 16 kHz mono float32 samples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

SAMPLE_RATE = 16_000


class AudioDecodeError(ValueError):
    """The body is not audio we can decode."""


def decode_audio(path: Path, sample_rate: int = SAMPLE_RATE) -> Any:
    import av
    import numpy as np

    chunks = []
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            streams = [s for s in container.streams if s.type == "audio"]
            if not streams:
                raise AudioDecodeError("the file has no audio stream")
            resampler = av.AudioResampler(format="s16", layout="mono", rate=sample_rate)
            for frame in container.decode(streams[0]):
                for resampled in resampler.resample(frame):  # type: ignore[arg-type]  # audio stream: AudioFrames only
                    chunks.append(resampled.to_ndarray().reshape(-1))
            for resampled in resampler.resample(None):
                chunks.append(resampled.to_ndarray().reshape(-1))
    except AudioDecodeError:
        raise
    except av.error.FFmpegError as exc:
        # strerror leaves out the server's temporary file name
        raise AudioDecodeError(f"cannot decode the audio: {exc.strerror or exc}") from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise AudioDecodeError(f"cannot decode the audio: {exc}") from exc
    if not chunks:
        raise AudioDecodeError("the file decodes to no audio samples")
    samples = np.concatenate(chunks).astype(np.float32)
    samples /= 32768.0
    return samples
