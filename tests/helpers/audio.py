"""Long audio files built on the spot: hours of silence with a speech clip every few minutes.

FLAC compresses silence to almost nothing, so ten hours fit in under a megabyte: the same
shape as the file that took the server to 8.6 GB in issue 12.
"""

from __future__ import annotations

from pathlib import Path

RATE = 16_000
FRAME_SIZE = 32768  # samples per FLAC frame: 8x the default, 8x fewer frames to encode


def write_flac(
    path: Path, seconds: float, speech: Path | None = None, every_seconds: float = 300.0
) -> Path:
    """`seconds` of 16 kHz mono FLAC: silence, with `speech` at the start of every period."""
    import av
    import numpy as np

    from whisper_async.serving.audio import decode_audio

    clip = np.zeros(0, dtype=np.int16)
    if speech is not None:
        clip = (decode_audio(speech) * 32767).astype(np.int16)
    period = int(every_seconds * RATE)
    total = int(seconds * RATE)
    with av.open(str(path), "w", format="flac") as container:
        stream = container.add_stream("flac", rate=RATE, options={"frame_size": str(FRAME_SIZE)})
        stream.layout = "mono"  # type: ignore[union-attr]  # an audio stream
        position = 0
        while position < total:
            start_in_period = position % period
            # blocks never cross into the next period, so each period starts with the clip
            size = min(FRAME_SIZE * 8, total - position, period - start_in_period)
            block = np.zeros(size, dtype=np.int16)
            if start_in_period < len(clip):
                piece = clip[start_in_period : start_in_period + size]
                block[: len(piece)] = piece
            frame = av.AudioFrame.from_ndarray(block.reshape(1, -1), format="s16", layout="mono")
            frame.sample_rate = RATE
            frame.pts = position
            for packet in stream.encode(frame):
                container.mux(packet)
            position += size
        for packet in stream.encode(None):
            container.mux(packet)
    return path
