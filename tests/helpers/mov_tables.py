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


def pcm_entry(*extensions: bytes) -> bytes:
    """A 'sowt' (16-bit little-endian PCM) sample description, 16 kHz mono, with `extensions`
    where a codec's configuration boxes go."""
    return box(
        b"sowt",
        b"\0" * 6 + struct.pack(">H", 1),
        struct.pack(">HHIHHHHI", 0, 0, 0, 1, 16, 0, 0, 16_000 << 16),
        *extensions,
    )


def audio_track(
    samples: int,
    sample_duration: int = 1024,
    sample_size: int = 1,
    stts: Sequence[tuple[int, int]] | None = None,
    ctts: Sequence[tuple[int, int]] = (),
    samples_per_chunk: int | None = None,
    edits: int = 0,
    handler: bytes = b"soun",
    sample_entry: bytes | None = None,
    extra_mdia: bytes = b"",
    extra_trak: bytes = b"",
    sample_sizes_box: bytes | None = None,
) -> bytes:
    """One track whose tables declare `samples` samples of `sample_size` bytes in one chunk."""
    stbl = [
        full_box(b"stsd", struct.pack(">I", 1) + (sample_entry or pcm_entry())),
        table(b"stts", stts if stts is not None else [(samples, sample_duration)]),
        table(b"stsc", [(1, samples if samples_per_chunk is None else samples_per_chunk, 1)]),
        table(b"stco", [(48,)]),
        sample_sizes_box or full_box(b"stsz", struct.pack(">II", sample_size, samples)),
    ]
    if ctts:
        stbl.append(table(b"ctts", ctts))
    mdhd = full_box(b"mdhd", struct.pack(">IIIIHH", 0, 0, 16_000, samples, 0, 0))
    hdlr = full_box(b"hdlr", struct.pack(">I4s12s", 0, handler, b"\0" * 12) + b"\0")
    minf = box(b"minf", full_box(b"smhd", b"\0" * 4), box(b"stbl", *stbl))
    tkhd = full_box(b"tkhd", struct.pack(">IIIII", 0, 0, 1, 0, samples) + b"\0" * 60)
    parts = [tkhd]
    if edits:
        elst = table(b"elst", [(samples, 0, 1 << 16)] * edits)
        parts.append(box(b"edts", elst))
    parts.append(box(b"mdia", mdhd, hdlr, minf, extra_mdia))
    return box(b"trak", *parts, extra_trak)


def movie(*tracks: bytes, mdat_bytes: int = 64, after_moov: bytes = b"") -> bytes:
    mvhd = full_box(b"mvhd", struct.pack(">IIII", 0, 0, 1000, 1000) + b"\0" * 80)
    head = box(b"ftyp", b"qt  ", b"\0\0\0\0", b"qt  ")
    return head + box(b"mdat", b"\0" * mdat_bytes) + box(b"moov", mvhd, *tracks) + after_moov


def sample_sizes(samples: int) -> bytes:
    """A constant-size stsz box: `samples` samples of one byte, stated in four bytes."""
    return full_box(b"stsz", struct.pack(">II", 1, samples))


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
    track = audio_track(
        16, sample_duration=1024, sample_sizes_box=full_box(b"stsz", struct.pack(">I", 1))
    )
    after = struct.pack(">I4s", samples, b"free") + b"\0" * 8
    return movie(track + after)
