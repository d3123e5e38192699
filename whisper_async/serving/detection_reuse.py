"""Encoder passes made for language detection, reused by the decoding that follows.

faster-whisper 1.2 encodes a file's first 30 s window to detect its language, then encodes that
window again to decode it: with the multilingual base model on a CPU the encoder is most of a
short clip's cost, so a 5 s clip paid for two encoder passes. Here decoding reuses the detection's
pass. Detection itself is left exactly as faster-whisper does it: the window it reads holds one
frame more than the one decoding would encode (the frame after the clip's last, from the
log-mel's centred window), and a detection made without that frame turned a held-out Italian
clip into Latin (docs/serving.md). Decoding is what reads the extra frame instead; over 30 s the
two windows are the same.

On a longer file the engine detects the language of each 30 s chunk (engines.py, language runs),
and a file in one language is then decoded in the very same chunks: `keep` holds those passes
for the batched path's encoder to find, up to KEPT_BYTES per request (about 10 minutes of
speech with the base model), so memory stays flat however long the file.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from whisper_async.serving.encoder_input import TrimmedEncoderModel

KEPT_BYTES = 64 * 2**20  # encoder outputs of detected chunks kept for their decoding


def _key(window: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(window).tobytes(), digest_size=16).digest()


class DetectionReusingModel(TrimmedEncoderModel):
    """A WhisperModel whose decoding reuses the encoder outputs that language detection computed:
    faster-whisper's own detection for the first window, and the engine's chunk detection
    (`keep`) for the batched path's chunks. Only for the very features detection read, and per
    thread: the server decodes requests side by side on one model."""

    reuse_detection = True  # False: faster-whisper's two passes, for bench/ to compare

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._kept = threading.local()

    @contextmanager
    def request(self) -> Iterator[None]:
        """One transcription's scope: whatever was kept is dropped when it ends."""
        self._kept.chunks = {}
        try:
            yield
        finally:
            self._kept.chunks = {}
            self._kept.output = self._kept.features = None  # a detection nothing decoded

    def keep(self, windows: np.ndarray, encoded: Any) -> None:
        """Hold the encoder's outputs for these windows (a batch of whole 30 s windows) until a
        decoding encodes the same windows, within the current `request`. On a GPU the outputs
        stay on the device and a pass is cheap, so nothing is kept."""
        chunks = getattr(self._kept, "chunks", None)
        if chunks is None or not self.reuse_detection or self.model.device != "cpu":
            return
        size = sum(output.nbytes for output in chunks.values())
        for window, output in zip(windows, np.asarray(encoded), strict=True):
            size += output.nbytes
            if size > KEPT_BYTES:
                return  # the earliest chunks are kept: decoding starts with them
            chunks[_key(window)] = output.copy()

    def _kept_batch(self, features: np.ndarray) -> Any:
        """The kept outputs for a batch of windows, when every one of them is kept."""
        chunks = getattr(self._kept, "chunks", None)
        if not chunks or features.ndim != 3 or self.encoder_tail_frames is not None:
            return None
        keys = [_key(window) for window in features]
        if not all(key in chunks for key in keys):
            return None
        import ctranslate2

        return ctranslate2.StorageView.from_array(np.stack([chunks.pop(key) for key in keys]))

    def encode(self, features: np.ndarray) -> Any:
        features = np.asarray(features)
        kept = self._kept_batch(features)
        if kept is not None:
            return kept
        encoded = super().encode(features)
        if getattr(self._kept, "detecting", False) and self._kept.output is None:
            self._kept.output = encoded  # the first window's: the one decoding starts from
        return encoded

    def detect_language(
        self, audio: np.ndarray | None = None, features: np.ndarray | None = None, **kwargs: Any
    ) -> Any:
        self._kept.detecting = self.reuse_detection and audio is None and features is not None
        # the features are held only to check that decoding reads the same window
        self._kept.output, self._kept.features = None, features if self._kept.detecting else None
        try:
            return super().detect_language(audio, features, **kwargs)
        finally:
            self._kept.detecting = False

    def generate_segments(
        self,
        features: np.ndarray,
        tokenizer: Any,
        options: Any,
        log_progress: Any,
        encoder_output: Any = None,
    ) -> Any:
        kept, read = getattr(self._kept, "output", None), getattr(self._kept, "features", None)
        self._kept.output = self._kept.features = None
        # faster-whisper uses a given output for the window at frame 0 only; it must be the
        # window detection read, up to decoding's last frame.
        window = min(self.feature_extractor.nb_max_frames, features.shape[-1] - 1)
        if (
            encoder_output is None
            and kept is not None
            and read is not None
            and read.shape[-1] >= window
            and np.array_equal(read[..., :window], features[..., :window])
        ):
            encoder_output = kept
        return super().generate_segments(features, tokenizer, options, log_progress, encoder_output)
