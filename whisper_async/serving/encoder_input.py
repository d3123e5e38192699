"""An experiment, off by default: the encoder given a window's content rather than 30 s of it.

faster-whisper pads every window's log-mel features with zeros to 3000 frames (30 s), and the
encoder, about half of the CPU time, costs the same for a 3 s clip as for a full window.
CTranslate2's Whisper encoder accepts fewer frames (its PR #1446), so a window can be cut a few
seconds after its content ends. With 10 s of padding kept, the held-out split was faster
(English 3.08x the article's speed against 2.73x) but less accurate on flite's voices and on
short non-English clips, so whole windows stay the default (docs/serving.md, "The encoder
given a window's content: tried, refused"). bench/tune.py and bench/engines.py switch it on.
`trimmed` itself is in use: the language runs' detection gives each stretch of up to 10 s its
speech and 10 s of padding (engines.py, `detection_tail_frames`), with the same runs found.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from faster_whisper import WhisperModel

# Frames of padding kept after the content (100 frames a second); None keeps the whole window.
ENCODER_TAIL_FRAMES: int | None = None
TRIED_TAIL_FRAMES = 1000  # the value chosen on the tuning split, then refused by the held-out one


def content_frames(features: np.ndarray) -> int:
    """Frames before the zero padding `pad_or_trim` appends; in a batch, the longest content."""
    columns = features.reshape(-1, features.shape[-1])
    nonzero = np.flatnonzero(np.any(columns != 0, axis=0))
    return int(nonzero[-1]) + 1 if nonzero.size else 0


def trimmed(features: np.ndarray, tail_frames: int | None) -> np.ndarray:
    """`features` cut `tail_frames` after their content, to an even number of frames (the
    encoder's convolution halves them)."""
    if tail_frames is None:
        return features
    keep = content_frames(features) + tail_frames
    keep += keep % 2
    return features[..., : min(keep, features.shape[-1])]


class TrimmedEncoderModel(WhisperModel):
    """A WhisperModel whose encoder, given `encoder_tail_frames`, sees each window's content and
    that much padding, in sequential and batched decoding and in faster-whisper's own language
    detection; with None (the default), whole windows, as WhisperModel."""

    encoder_tail_frames: int | None = ENCODER_TAIL_FRAMES
    # Another encoder for the same weights (serving/bfloat16_encoder.py); None: CTranslate2's.
    encoder: Callable[[np.ndarray], Any] | None = None

    def encode(self, features: np.ndarray) -> Any:
        return self.encode_as_given(trimmed(np.asarray(features), self.encoder_tail_frames))

    def encode_as_given(self, features: np.ndarray) -> Any:
        """The encoder over `features` as they are, whatever `encoder_tail_frames` says: the
        language runs of long files trim their stretches by a rule of their own."""
        if self.encoder is None:
            return super().encode(features)
        features = np.asarray(features)
        return self.encoder(features[np.newaxis] if features.ndim == 2 else features)
