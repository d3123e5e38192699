"""mov_index: the sample counts an MP4/MOV body declares, read before FFmpeg indexes them.

Files that ffmpeg writes pass; bodies whose boxes declare millions of samples in a few hundred
bytes are refused wherever the demuxer would find those boxes (docs/serving.md, "Bodies the
server refuses")."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.helpers import mov_tables as mov
from whisper_async.serving.audio import AudioDecodeError, packet_seconds
from whisper_async.serving.mov_index import (
    MIN_ENTRY_BUDGET,
    IndexTooLargeError,
    check_index_size,
)

TOO_MANY = 3 * MIN_ENTRY_BUDGET
VIDEO_HANDLER = mov.full_box(b"hdlr", b"\0" * 4 + b"vide" + b"\0" * 12)
ITUNES_META = mov.full_box(
    b"meta",
    mov.full_box(b"hdlr", b"\0" * 4 + b"mdir" + b"\0" * 12)
    + mov.box(b"ilst", mov.sample_sizes(TOO_MANY)),
)


def ffmpeg(path: Path, *options: str, seconds: int = 20) -> Path:
    tone = f"sine=f=440:d={seconds}:r=48000"
    command = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", tone, *options, str(path)]
    subprocess.run(command, check=True)
    return path


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("aac.m4a", ("-c:a", "aac")),
        ("alac.m4a", ("-c:a", "alac")),
        ("pcm.mov", ("-c:a", "pcm_s16le")),  # one stsz entry per PCM frame: 960,000 here
        ("fragmented.mp4", ("-c:a", "aac", "-movflags", "frag_keyframe+empty_moov")),
        ("opus.mp4", ("-c:a", "libopus")),
    ],
)
def test_files_ffmpeg_writes_pass_and_decode(
    tmp_path: Path, name: str, options: tuple[str, ...]
) -> None:
    path = ffmpeg(tmp_path / name, *options)
    check_index_size(path)
    assert packet_seconds(path, stop_after=3600) == pytest.approx(20, abs=0.1)


def test_an_hour_of_pcm_in_mov_passes(tmp_path: Path) -> None:
    """172.8 million stsz samples: FFmpeg indexes uncompressed audio per chunk, not per sample."""
    path = ffmpeg(tmp_path / "hour.mov", "-c:a", "pcm_s16le", seconds=3600)
    check_index_size(path)
    path.unlink()  # 346 MB


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(mov.movie(mov.audio_track(TOO_MANY)), id="constant-size-stsz"),
        pytest.param(
            mov.movie(*[mov.audio_track(TOO_MANY // 7) for _ in range(7)]), id="seven-tracks"
        ),
        pytest.param(mov.movie(mov.audio_track(16), after_moov=mov.fragment(TOO_MANY)), id="trun"),
        pytest.param(mov.movie(mov.audio_track(20_000, edits=1_000)), id="edit-list"),
        pytest.param(
            mov.movie(mov.audio_track(16, extra_trak=mov.box(b"udta", mov.sample_sizes(TOO_MANY)))),
            id="stsz-in-user-data",  # the demuxer applies it to the track it is in
        ),
        pytest.param(
            mov.movie(mov.audio_track(16, extra_trak=mov.box(b"udta", ITUNES_META))),
            id="stsz-in-itunes-metadata",
        ),
        pytest.param(
            mov.movie(mov.audio_track(TOO_MANY, sample_duration=1, extra_mdia=VIDEO_HANDLER)),
            id="pcm-turned-video",  # a later hdlr makes it indexed per sample
        ),
    ],
)
def test_declared_samples_beyond_the_body_are_refused(tmp_path: Path, body: bytes) -> None:
    path = tmp_path / "body.mov"
    path.write_bytes(body)
    with pytest.raises(IndexTooLargeError, match=r"declare [0-9,]+ samples in [0-9,]+ bytes"):
        check_index_size(path)
    with pytest.raises(AudioDecodeError, match="ffmpeg -i INPUT"):
        packet_seconds(path, stop_after=3600)


def test_compressed_movie_headers_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "body.mov"
    path.write_bytes(mov.box(b"moov", mov.box(b"cmov", b"\0" * 32)))
    with pytest.raises(IndexTooLargeError, match="compressed"):
        check_index_size(path)


def test_sample_tables_hidden_in_a_sample_description_are_refused(tmp_path: Path) -> None:
    """The demuxer parses the boxes after a sample description's fields, which this module
    cannot place without knowing the codec."""
    entry = mov.pcm_entry(mov.sample_sizes(TOO_MANY))
    path = tmp_path / "body.mov"
    path.write_bytes(mov.movie(mov.audio_track(16, sample_entry=entry)))
    with pytest.raises(IndexTooLargeError, match="sample description holds a 'stsz' box"):
        check_index_size(path)


def test_a_million_empty_boxes_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "boxes.mov"
    path.write_bytes(mov.box(b"moov", mov.box(b"udta", mov.box(b"free") * 1_000_001)))
    with pytest.raises(IndexTooLargeError, match="more than 1,000,000 boxes"):
        check_index_size(path)


@pytest.mark.parametrize("body", [b"", b"RIFF", b"\0" * 7, b"\0\0\0\x01moov", b"\xff" * 64])
def test_bodies_that_are_not_box_lists_are_left_to_ffmpeg(tmp_path: Path, body: bytes) -> None:
    path = tmp_path / "body.bin"
    path.write_bytes(body)
    check_index_size(path)
