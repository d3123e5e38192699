#!/usr/bin/env python3
"""A stand-in for the `ffmpeg` program on a lent GPU machine that has none (bench/gpu_lent.sh).

openai-whisper's `load_audio` runs `ffmpeg -nostdin -threads 0 -i FILE -f s16le -ac 1 -acodec
pcm_s16le -ar RATE -`; this answers that one call through PyAV, with the same samples for the
corpus's files (16 kHz mono, so nothing is resampled).
"""

from __future__ import annotations

import sys

import av


def main(args: list[str]) -> int:
    path, rate = args[args.index("-i") + 1], int(args[args.index("-ar") + 1])
    out = sys.stdout.buffer
    with av.open(path) as container:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
        for frame in container.decode(audio=0):
            for piece in resampler.resample(frame):
                out.write(piece.to_ndarray().tobytes())
        for piece in resampler.resample(None):
            out.write(piece.to_ndarray().tobytes())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
