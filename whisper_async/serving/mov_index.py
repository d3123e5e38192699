"""What FFmpeg's mov demuxer (MP4, M4A, MOV, 3GP) will index, counted before it opens the file.

The demuxer allocates about 35 bytes per sample that a track's `stsz` box declares, and per
sample of every fragment's `trun` box, before it reads a single one; edit lists (`elst`)
multiply a track's index. A `stsz` box with a constant sample size states its count in four
bytes, so a 4.6 KB body declaring 89 million samples took 3.4 GB inside `av.open`, and seven
such tracks killed the server. This module walks the boxes the way the demuxer dispatches them
(by type, in every box it parses as a container, applying each to the last track) and refuses
a body that declares more index entries than its size allows.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass, field
from pathlib import Path

# An index entry per 32 bytes of body, or two million for a small file: real audio spends
# 10 bytes and up on a sample (AMR at 4.75 kbit/s: 13 per 20 ms); two million AAC frames are
# over 12 hours. The index then costs at most about the body's size (or 70 MB).
BODY_BYTES_PER_ENTRY = 32
MIN_ENTRY_BUDGET = 2_000_000
# A legitimate hour-long fragmented file has tens of thousands of boxes.
MAX_BOXES = 1_000_000
# FFmpeg refuses atoms nested deeper than 10.
MAX_DEPTH = 12

# The boxes the demuxer parses as lists of boxes (mov_read_default and its callers).
CONTAINERS = frozenset(
    b"moov trak mdia minf stbl edts dinf udta tref mvex moof traf ilst wave sinf schi iprp "
    b"ipco".split()
)
# hdlr types that set a track's media type (mov_read_hdlr); others leave it as it was.
MEDIA_HANDLERS = frozenset([b"vide", b"soun", b"m1a ", b"subp", b"clcp", b"text", b"sbtl", b"subt"])
AUDIO_HANDLERS = frozenset([b"soun", b"m1a "])
# Inside a sample description only codec configuration belongs; the demuxer would parse these
# as sample tables or tracks there too.
MISPLACED_IN_STSD = (b"stsz", b"stz2", b"stts", b"trun", b"elst", b"hdlr", b"trak", b"moov")


class IndexTooLargeError(ValueError):
    """The file declares more samples than its bytes can hold; the message says what to do."""


@dataclass
class _Track:
    samples: int = 0  # the last stsz/stz2 count
    edits: int = 0  # the last elst entry count
    media_handler: bytes = b""
    stts_entries: list[tuple[int, int]] = field(default_factory=list)

    def index_entries(self) -> int:
        # Uncompressed audio whose single stts entry lasts one tick is indexed per chunk
        # (mov_build_index): its stsz count is the number of PCM frames, not of entries.
        per_chunk = [entry[1] for entry in self.stts_entries] == [1]
        if self.media_handler in AUDIO_HANDLERS and per_chunk:
            return 0
        return self.samples * max(1, self.edits)


@dataclass
class _Count:
    tracks: list[_Track] = field(default_factory=list)
    fragment_samples: int = 0
    boxes: int = 0

    def total(self) -> int:
        return sum(track.index_entries() for track in self.tracks) + self.fragment_samples


def entry_budget(body_bytes: int) -> int:
    return max(MIN_ENTRY_BUDGET, body_bytes // BODY_BYTES_PER_ENTRY)


def check_index_size(path: Path) -> None:
    """Raise IndexTooLargeError when the file's boxes declare more index entries than
    `entry_budget` allows for its size, or hold what the demuxer would parse unseen here."""
    with path.open("rb") as handle:
        size = path.stat().st_size
        if size < 8:
            return
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            count = _Count()
            _walk(data, 0, size, 0, count)
    declared = count.total()
    if declared > entry_budget(size):
        raise IndexTooLargeError(
            f"the file's sample tables declare {declared:,} samples in {size:,} bytes, more "
            "than it can hold (the decoder would allocate memory for each)"
        )


def _u32(data: mmap.mmap, offset: int, end: int) -> int:
    if offset + 4 > end:
        return 0
    value: int = struct.unpack_from(">I", data, offset)[0]
    return value


def _walk(data: mmap.mmap, start: int, end: int, depth: int, count: _Count) -> None:
    """Read the boxes in [start, end) as mov_read_default does: sizes clamped to the parent,
    size 0 to its end, size 1 a 64-bit size, and a box shorter than its header ends the list."""
    if depth > MAX_DEPTH:
        return
    position = start
    while position + 8 <= end:
        count.boxes += 1
        if count.boxes > MAX_BOXES:
            raise IndexTooLargeError(
                f"the file holds more than {MAX_BOXES:,} boxes; no recording needs as many"
            )
        size, kind = struct.unpack_from(">I4s", data, position)
        header = 8
        if size == 1:
            if position + 16 > end:
                return
            size = struct.unpack_from(">Q", data, position + 8)[0]
            header = 16
        elif size == 0:
            size = end - position
        if size < header:
            return
        body, box_end = position + header, min(position + size, end)
        _read_box(data, kind, body, box_end, depth, count)
        position = box_end


def _read_box(data: mmap.mmap, kind: bytes, body: int, end: int, depth: int, count: _Count) -> None:
    track = count.tracks[-1] if count.tracks else None
    if kind == b"trak":
        count.tracks.append(_Track())
        _walk(data, body, end, depth + 1, count)
    elif kind in CONTAINERS:
        _walk(data, body, end, depth + 1, count)
    elif kind == b"meta":
        _walk_meta(data, body, end, depth, count)
    elif kind == b"cmov":
        raise IndexTooLargeError(
            "the file's movie header is compressed (QuickTime cmov), which the server does not read"
        )
    elif kind == b"trun":
        count.fragment_samples += _u32(data, body + 4, end)
    elif kind == b"stsd":
        _check_sample_description(data, body, end)
    elif track is None:
        return  # the demuxer ignores sample tables before the first track
    elif kind in (b"stsz", b"stz2"):
        track.samples = _u32(data, body + 8, end)
    elif kind == b"elst":
        track.edits = _u32(data, body + 4, end)
    elif kind == b"hdlr":
        handler = bytes(data[body + 8 : body + 12]) if body + 12 <= end else b""
        if handler in MEDIA_HANDLERS:
            track.media_handler = handler
    elif kind == b"stts":
        entries = _u32(data, body + 4, end)
        first = body + 8
        # Only "one entry of one tick" matters (_Track.index_entries); two are enough to know.
        track.stts_entries = [
            struct.unpack_from(">II", data, first + 8 * i)
            for i in range(min(entries, 2))
            if first + 8 * (i + 1) <= end
        ]


def _walk_meta(data: mmap.mmap, body: int, end: int, depth: int, count: _Count) -> None:
    """mov_read_meta looks for the tag `hdlr` four bytes at a time and reads boxes from there."""
    position = body
    while position + 8 <= end:
        if data[position : position + 4] == b"hdlr":
            _walk(data, position - 4, end, depth + 1, count)
            return
        position += 4


def _check_sample_description(data: mmap.mmap, body: int, end: int) -> None:
    """A sample description's codec configuration is parsed as boxes after fields whose length
    depends on the codec; sample tables or tracks hidden there are refused outright."""
    description = bytes(data[body:end])
    for tag in MISPLACED_IN_STSD:
        if tag in description:
            raise IndexTooLargeError(
                f"the file's sample description holds a '{tag.decode()}' box, which only "
                "belongs in the movie's sample tables"
            )
