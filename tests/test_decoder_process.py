"""The request's audio is decoded in a child process with capped memory (decoder_process.py):
the samples are exactly those decoded in-process, and a body that makes FFmpeg allocate
gigabytes is refused without the server's memory growing."""

from __future__ import annotations

import os
import re
import resource
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import mov_tables as mov
from tests.helpers.waiting import wait_until
from whisper_async.serving import decoder_process
from whisper_async.serving.audio import AudioDecodeError, decode_audio
from whisper_async.serving.decoder_process import decoded_in_child

# Each declares 60 million samples: about 2 GB of FFmpeg's index, four times the child's cap.
DECLARED = 60_000_000
HOURS = 4 * 3600


def ffmpeg(path: Path, *options: str, seconds: int = 20) -> Path:
    tone = f"sine=f=440:d={seconds}:r=48000"
    command = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", tone, *options, str(path)]
    subprocess.run(command, check=True)
    return path


def decoded(path: Path) -> tuple[float | None, np.ndarray]:
    with decoded_in_child(path, stop_after=HOURS) as audio:
        return audio.seconds, np.concatenate(list(audio.samples))


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("aac.m4a", ("-c:a", "aac")),
        ("pcm.mov", ("-c:a", "pcm_s16le")),
        ("fragmented.mp4", ("-c:a", "aac", "-movflags", "frag_keyframe+empty_moov")),
        ("speech.flac", ("-ar", "16000")),
    ],
)
def test_the_child_gives_the_samples_an_in_process_decode_gives(
    tmp_path: Path, name: str, options: tuple[str, ...]
) -> None:
    path = ffmpeg(tmp_path / name, *options)
    seconds, samples = decoded(path)
    assert seconds == pytest.approx(20, abs=0.1)
    assert np.array_equal(samples, decode_audio(path))


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(mov.movie(mov.audio_track(DECLARED)), id="constant-size-stsz"),
        pytest.param(
            mov.movie(*[mov.audio_track(DECLARED // 7) for _ in range(7)]), id="seven-tracks"
        ),
        pytest.param(mov.movie(mov.audio_track(16), after_moov=mov.fragment(DECLARED)), id="trun"),
        pytest.param(mov.movie_box_by_another_name(DECLARED), id="movie-named-hoov"),
        pytest.param(mov.count_read_past_the_box(DECLARED), id="count-past-the-box"),
    ],
)
def test_a_body_that_makes_ffmpeg_allocate_gigabytes_is_refused(
    tmp_path: Path, body: bytes
) -> None:
    path = tmp_path / "body.mov"
    path.write_bytes(body)
    assert len(body) < 3000
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        _, samples = decoded(path)
    except AudioDecodeError as refused:
        assert re.search(r"cannot decode|no audio samples", str(refused))
    else:  # FFmpeg gave up its index and read the few packets there are, as its CLI does
        assert len(samples) <= len(body)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 100 * 1024  # the index was the child's, never this process's


def test_a_decoder_server_that_died_is_started_again(tmp_path: Path) -> None:
    path = ffmpeg(tmp_path / "tone.flac", seconds=2)
    decoded(path)
    server = decoder_process._SERVER._process
    assert server is not None
    server.kill()
    server.wait()
    seconds, _ = decoded(path)
    assert seconds == pytest.approx(2, abs=0.1)
    assert decoder_process._SERVER._process is not server


def test_requests_at_once_each_get_their_own_samples(tmp_path: Path) -> None:
    """One request on the decoder server's socket at a time: a stream socket never joins
    two requests (and their pipes) into one read."""
    import threading

    files = [ffmpeg(tmp_path / f"tone{i}.flac", seconds=1 + i % 3) for i in range(8)]
    wrong: list[Path] = []

    def decode_each() -> None:
        for path in files:
            if not np.array_equal(decoded(path)[1], decode_audio(path)):
                wrong.append(path)

    threads = [threading.Thread(target=decode_each) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []


def test_a_long_path_of_non_ascii_names_is_decoded(tmp_path: Path) -> None:
    """1,400 bytes of emoji in the path: the request carries the path's bytes, not JSON's
    twelve-byte escapes of them (which once passed the server's read and killed it)."""
    folder = tmp_path
    for _ in range(7):
        folder = folder / ("\N{STUDIO MICROPHONE}" * 50)
    folder.mkdir(parents=True)
    path = ffmpeg(folder / "tone.flac", seconds=1)
    assert len(bytes(path)) > 1400
    assert np.array_equal(decoded(path)[1], decode_audio(path))


def test_a_request_the_decoder_server_cannot_read_is_answered_and_it_lives_on(
    tmp_path: Path,
) -> None:
    path = ffmpeg(tmp_path / "tone.flac", seconds=1)
    decoded(path)
    server = decoder_process._SERVER._process
    with pytest.raises(decoder_process.DecoderUnavailableError, match="could not start a decoder"):
        decoder_process._SERVER._send(b"short", 0)
    assert np.array_equal(decoded(path)[1], decode_audio(path))
    assert decoder_process._SERVER._process is server


def test_a_child_that_never_answers_is_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A FIFO where the body was (only the server's own user could swap one in): opening it
    blocks the child, which no pipe closing would end; the server kills it by its pidfd."""

    fifo = tmp_path / "body"
    os.mkfifo(fifo)
    monkeypatch.setattr(decoder_process, "ANSWER_SECONDS", 1.0)
    with pytest.raises(AudioDecodeError, match="took over 1 s"):
        decoded(fifo)

    server = decoder_process._SERVER._process
    assert server is not None

    def children() -> list[str]:
        """The decoder server's children (field 4 of /proc/PID/stat is the parent)."""
        found = []
        for process in Path("/proc").iterdir():
            try:
                stat = (process / "stat").read_text()
            except OSError:
                continue
            if stat.rsplit(")", 1)[1].split()[1] == str(server.pid):
                found.append(process.name)
        return found

    wait_until(lambda: children() == [], "the blocked child to be killed", timeout=60)


def ffmpeg_sample_count(path: Path) -> int:
    """How many 16 kHz mono samples the ffmpeg command line (whisper.load_audio's decoder)
    makes of the file: it skips a packet that does not decode, and follows format changes."""
    raw = ("-f", "s16le", "-ac", "1", "-ar", "16000", "-")
    command = ["ffmpeg", "-v", "quiet", "-i", str(path), *raw]
    return len(subprocess.run(command, check=True, capture_output=True).stdout) // 2


def joined(path: Path, *parts: Path) -> Path:
    path.write_bytes(b"".join(part.read_bytes() for part in parts))
    return path


@pytest.mark.parametrize(
    "damage",
    [
        "two-mp3s-joined",
        "zeros-mid-mp3",
        "mono-then-stereo-aac",
        "call-recording-cut-mid-frame",
        "aac-then-mp3",
    ],
)
def test_a_damaged_or_joined_file_decodes_as_far_as_ffmpeg_reads_it(
    tmp_path: Path, damage: str
) -> None:
    """One packet that does not decode (the second file's header, bytes lost mid-file) used
    to fail the whole request; a channel count that changes part-way, too."""
    if damage == "two-mp3s-joined":
        first = ffmpeg(tmp_path / "a.mp3", "-ar", "16000", seconds=5)
        second = ffmpeg(tmp_path / "b.mp3", "-ar", "44100", seconds=7)
        path = joined(tmp_path / "joined.mp3", first, second)
    elif damage == "zeros-mid-mp3":
        whole = ffmpeg(tmp_path / "a.mp3", seconds=10).read_bytes()
        path = tmp_path / "holed.mp3"
        path.write_bytes(whole[: len(whole) // 2] + bytes(200) + whole[len(whole) // 2 :])
    elif damage == "mono-then-stereo-aac":
        first = ffmpeg(tmp_path / "m.aac", "-ac", "1", "-c:a", "aac", "-f", "adts", seconds=5)
        second = ffmpeg(tmp_path / "s.aac", "-ac", "2", "-c:a", "aac", "-f", "adts", seconds=7)
        path = joined(tmp_path / "joined.aac", first, second)
    elif damage == "call-recording-cut-mid-frame":  # its demuxer fails on the last bytes
        whole = ffmpeg(tmp_path / "a.gsm", "-ar", "8000", "-ac", "1", "-c:a", "libgsm")
        path = tmp_path / "call.gsm"
        path.write_bytes(whole.read_bytes()[:-5])
    else:  # the ADTS demuxer stops at the MP3's bytes, as the ffmpeg command line does
        first = ffmpeg(tmp_path / "a.aac", "-c:a", "aac", "-f", "adts", seconds=11)
        path = joined(tmp_path / "tail.aac", first, ffmpeg(tmp_path / "b.mp3", seconds=2))

    _, samples = decoded(path)
    # within 10 ms: at a format change both flush their resampler, rounding a few samples apart
    assert abs(len(samples) - ffmpeg_sample_count(path)) <= 160
    assert len(samples) > 9.5 * 16_000  # most of it, not the first part alone


def test_joined_aac_files_at_other_rates_are_timed_by_each_frames_own_rate(
    tmp_path: Path,
) -> None:
    """FFmpeg times a raw AAC file's packets at its first frame's rate: 8 kHz then 44.1 kHz
    counted as 65 s for 20 s of audio (ADTS; LOAS 49 s for 16 s), and a file within the limit
    was refused as too long."""
    for muxer in ("adts", "latm"):
        low = ffmpeg(tmp_path / "low", "-ar", "8000", "-c:a", "aac", "-f", muxer, seconds=10)
        high = ffmpeg(tmp_path / "high", "-ar", "44100", "-c:a", "aac", "-f", muxer, seconds=10)
        for path in (joined(tmp_path / "lh", low, high), joined(tmp_path / "hl", high, low)):
            seconds, samples = decoded(path)
            assert abs(len(samples) / 16_000 - 20) < 0.3
            # LATM has no rate of its own in each frame: its length is left to the decoding
            assert (seconds is None) if muxer == "latm" else abs(seconds - 20) < 0.3


def test_a_chained_ogg_stream_is_refused_in_plain_words_after_what_decoded(
    tmp_path: Path,
) -> None:
    """Two Ogg files joined with other settings: FFmpeg's own words ("patches welcome") came
    back from the length count, before the decoder's message that says what to do."""
    first = ffmpeg(tmp_path / "a.ogg", "-ar", "44100", "-c:a", "libvorbis", seconds=5)
    second = ffmpeg(tmp_path / "b.ogg", "-ar", "22050", "-ac", "2", "-c:a", "libvorbis", seconds=5)
    with pytest.raises(AudioDecodeError) as refused:
        decoded(joined(tmp_path / "chained.ogg", first, second))
    message = str(refused.value)
    assert "after 5.0 s" in message and "chained Ogg" in message and "ffmpeg -i INPUT" in message
    assert "atches welcome" not in message


def test_a_chained_ogg_that_changes_codec_names_the_change_without_a_hint_that_truncates(
    tmp_path: Path,
) -> None:
    """Vorbis then Opus: FFmpeg said only "Invalid argument", and the hint to re-encode with
    ffmpeg would have written the first part alone (ffmpeg stops there and exits 0)."""
    first = ffmpeg(tmp_path / "a.ogg", "-c:a", "libvorbis", seconds=3)
    second = ffmpeg(tmp_path / "b.ogg", "-c:a", "libopus", seconds=3)
    with pytest.raises(AudioDecodeError) as refused:
        decoded(joined(tmp_path / "chained.ogg", first, second))
    message = str(refused.value)
    assert "after 3.0 s" in message and "another codec" in message
    assert "each part as its own file" in message and "ffmpeg -i" not in message


def test_a_file_of_which_no_packet_decodes_is_refused(tmp_path: Path) -> None:
    """An MP3 header followed by noise: every packet fails, so the decoder's error is the
    answer, not an empty transcript."""
    header = ffmpeg(tmp_path / "a.mp3", seconds=1).read_bytes()[:4]
    path = tmp_path / "noise.mp3"
    path.write_bytes((header + os.urandom(400)) * 50)
    with pytest.raises(AudioDecodeError, match="cannot decode the audio"):
        decoded(path)


def test_many_channels_in_no_order_are_refused_saying_so(tmp_path: Path) -> None:
    """A 9-channel PCM WAV without a channel mask: "cannot decode the audio: Invalid
    argument". Three such channels mix down and are read."""
    import wave

    for channels in (3, 9):
        path = tmp_path / f"{channels}.wav"
        with wave.open(str(path), "wb") as out:
            out.setnchannels(channels)
            out.setsampwidth(2)
            out.setframerate(16000)
            out.writeframes(np.zeros(16000 * channels, np.int16).tobytes())
        if channels == 3:
            assert len(decoded(path)[1]) == 16000
            continue
        with pytest.raises(AudioDecodeError, match="its 9 channels come in no order") as refused:
            decoded(path)
        assert "-ac 1" in str(refused.value)


@pytest.mark.parametrize("suffix", ["8svx", "avr", "wve", "pvf"])
def test_formats_of_sox_and_old_machines_are_read(tmp_path: Path, suffix: str) -> None:
    """Formats the allowlist left out, though FFmpeg reads them (dictation recorders' DSS and
    ACT are in the same list)."""
    source = ffmpeg(tmp_path / "tone.wav", "-ar", "8000", seconds=3)
    path = tmp_path / f"tone.{suffix}"
    subprocess.run(["sox", str(source), str(path)], check=True)
    _, samples = decoded(path)
    assert abs(len(samples) - ffmpeg_sample_count(path)) <= 160
    assert len(samples) > 2.9 * 16_000


@pytest.mark.parametrize(
    ("suffix", "options"),
    [
        (".mka", ()),
        (".caf", ()),
        (".wv", ()),
        (".ac3", ()),
        (".mp2", ()),
        (".au", ()),
        (".flv", ()),
        (".mts", ("-f", "mpegts")),
        (".m2ts", ("-f", "mpegts")),
    ],
)
def test_a_folder_sends_every_file_the_decoder_reads(
    tmp_path: Path, suffix: str, options: tuple[str, ...]
) -> None:
    """`transcribe recordings/` skipped .mka, .caf, .wv, .ac3, .mts... without a word, though
    the server reads them."""
    from whisper_async.inputs import expand

    path = ffmpeg(tmp_path / f"tone{suffix}", *options, seconds=3)
    assert [found.display for found in expand([str(tmp_path)])] == [str(path)]
    _, samples = decoded(path)
    assert len(samples) > 2.9 * 16_000


def test_the_audio_track_ffmpeg_picks_is_the_one_decoded(tmp_path: Path) -> None:
    """A screen recording: system audio (silent) first, the microphone second and marked
    default. The first track was transcribed: an empty transcript."""
    path = tmp_path / "recording.mkv"
    silence = ["-f", "lavfi", "-t", "4", "-i", "anullsrc=r=48000:cl=stereo"]
    tone = ["-f", "lavfi", "-i", "sine=f=440:d=4:r=48000"]
    tracks = ["-map", "0:a", "-map", "1:a", "-disposition:a:0", "0", "-disposition:a:1", "default"]
    command = ["ffmpeg", "-v", "error", *silence, *tone, *tracks, "-c:a", "flac", str(path)]
    subprocess.run(command, check=True)
    _, samples = decoded(path)
    assert float(np.abs(samples).max()) > 0.1  # the tone, not the silence
