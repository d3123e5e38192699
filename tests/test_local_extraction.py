"""model.tar.gz extraction: safe paths, no links, and a cap on the expanded size."""

from __future__ import annotations

import gzip
import io
import random
import tarfile
from pathlib import Path

import pytest

from whisper_async.local.extraction import (
    ExtractionError,
    parse_size,
    safe_extract,
)

MIB = 1024 * 1024


def archive(path: Path, members: dict[str, bytes], layout: int = tarfile.DEFAULT_FORMAT) -> Path:
    with tarfile.open(path, "w:gz", format=layout) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_an_archive_that_expands_past_the_cap_is_refused_and_nothing_stays(
    tmp_path: Path,
) -> None:
    bomb = archive(tmp_path / "bomb.tar.gz", {"a.bin": bytes(MIB), "b.bin": bytes(2 * MIB)})
    assert bomb.stat().st_size < 20_000  # 3 MiB of zeros compress to a few KB
    target = tmp_path / "model"
    with pytest.raises(ExtractionError) as refused:
        safe_extract(bomb, target, max_bytes=2 * MIB)
    assert "expands to more than 2.0 MiB" in str(refused.value)
    assert "WASYNC_LOCAL_MAX_MODEL_SIZE" in str(refused.value)
    assert not target.exists()


def test_an_archive_within_the_cap_is_extracted(tmp_path: Path) -> None:
    model = archive(tmp_path / "m.tar.gz", {"dir/a.bin": bytes(MIB), "config.json": b"{}"})
    safe_extract(model, tmp_path / "model", max_bytes=MIB + 2)
    assert (tmp_path / "model" / "dir" / "a.bin").stat().st_size == MIB
    assert (tmp_path / "model" / "config.json").read_text() == "{}"


@pytest.mark.parametrize("damage", ["cut", "flipped"])
def test_a_damaged_archive_is_refused_and_nothing_stays(tmp_path: Path, damage: str) -> None:
    """A flipped stretch of bytes left a corrupt model.bin and silently dropped the files after
    it; an archive cut short raised EOFError past the refusal and left an empty folder."""
    weights = random.Random(0).randbytes(2 * MIB)  # does not compress: the damage lands in it
    members = {"model.bin": weights, "config.json": b"{}", "tokenizer.json": b"{}"}
    whole = archive(tmp_path / "m.tar.gz", members).read_bytes()
    damaged = bytearray(whole[: len(whole) // 2] if damage == "cut" else whole)
    if damage == "flipped":
        middle = len(damaged) // 2
        damaged[middle : middle + 400] = bytes(b ^ 0xFF for b in damaged[middle : middle + 400])
    (tmp_path / "damaged.tar.gz").write_bytes(bytes(damaged))
    target = tmp_path / "model"
    with pytest.raises(
        ExtractionError, match=r"cannot unpack model\.tar\.gz.*push the model again"
    ):
        safe_extract(tmp_path / "damaged.tar.gz", target)
    assert not target.exists()


def test_too_many_entries_are_refused(tmp_path: Path) -> None:
    many = archive(tmp_path / "many.tar.gz", {f"f{i}": b"" for i in range(11)})
    with pytest.raises(ExtractionError, match="more than 10 entries"):
        safe_extract(many, tmp_path / "model", max_members=10)


@pytest.mark.parametrize("layout", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_a_huge_name_header_is_refused_before_it_is_read(tmp_path: Path, layout: int) -> None:
    """A long-name (GNU) or pax header is read whole by tarfile: 20 KB of gzip once held a 20 MiB
    name, whose error message then carried it whole."""
    bomb = archive(tmp_path / "names.tar.gz", {"n" * (4 * MIB): b"x"}, layout)
    assert bomb.stat().st_size < 50_000
    with pytest.raises(ExtractionError) as refused:
        safe_extract(bomb, tmp_path / "model")
    assert "name or extended header" in str(refused.value)
    assert len(str(refused.value)) < 300
    assert not (tmp_path / "model").exists()


def test_a_long_name_is_shortened_in_the_message(tmp_path: Path) -> None:
    bad = archive(tmp_path / "bad.tar.gz", {"../" + "n" * 60_000: b"x"}, tarfile.GNU_FORMAT)
    with pytest.raises(ExtractionError, match="points outside") as refused:
        safe_extract(bad, tmp_path / "model")
    assert len(str(refused.value)) < 300


def test_a_name_no_file_system_could_hold_is_refused_at_its_entry(tmp_path: Path) -> None:
    """Names under the header cap but over PATH_MAX, thousands of them: tarfile kept each one,
    and 20,000 took 1.2 GB before the first "File name too long"."""
    names = {f"{i:05d}" + "n" * 5000: b"" for i in range(50)}
    with pytest.raises(ExtractionError, match="name over 4096 bytes") as refused:
        safe_extract(archive(tmp_path / "long.tar.gz", names, tarfile.GNU_FORMAT), tmp_path / "m")
    assert "00000nnn" in str(refused.value)  # refused at the first, not after reading them all
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize(
    ("name", "message"),
    [("../escape.txt", "points outside"), ("/abs.txt", "points outside")],
)
def test_paths_outside_the_model_are_refused(tmp_path: Path, name: str, message: str) -> None:
    bad = archive(tmp_path / "bad.tar.gz", {"ok.bin": b"x", name: b"x"})
    with pytest.raises(ExtractionError, match=message):
        safe_extract(bad, tmp_path / "deep" / "model")
    assert not (tmp_path / "deep" / "escape.txt").exists()
    assert not (tmp_path / "deep" / "model").exists()


def test_an_entry_that_cannot_be_written_is_named_without_the_stacks_paths(tmp_path: Path) -> None:
    """A file `a`, then `a/b`: the error was the system's with the state dir's whole path to
    the entry, and it became the endpoint's FailureReason."""
    clash = archive(tmp_path / "clash.tar.gz", {"a": b"x", "a/b": b"y"})
    with pytest.raises(ExtractionError) as refused:
        safe_extract(clash, tmp_path / "model")
    assert str(refused.value).startswith("cannot unpack model.tar.gz at entry 'a/b': ")
    assert str(tmp_path) not in str(refused.value)
    assert not (tmp_path / "model").exists()


@pytest.mark.parametrize(
    ("text", "size"),
    [("8GiB", 8 * 1024**3), ("500MB", 500_000_000), ("2g", 2_000_000_000), ("1024", 1024)],
)
def test_sizes_read_as_people_write_them(text: str, size: int) -> None:
    assert parse_size(text) == size


def test_a_size_that_is_not_one_says_how_to_write_it() -> None:
    with pytest.raises(ValueError, match="write it as 8GiB"):
        parse_size("lots")


def test_a_global_pax_header_is_refused(tmp_path: Path) -> None:
    """tarfile copies a global header's keys into every later member (60 KB and 3,000 entries
    took 612 MB)."""
    path = tmp_path / "global.tar.gz"
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT, pax_headers={"k": "v"}) as tar:
        info = tarfile.TarInfo("model.bin")
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(ExtractionError, match="global pax header"):
        safe_extract(path, tmp_path / "model")
    assert not (tmp_path / "model").exists()


def test_thousands_of_extended_headers_in_a_row_are_refused(tmp_path: Path) -> None:
    """tarfile reads what each extended header describes by recursion: 5,000 in a row (21 KB of
    gzip) ended in RecursionError."""
    record = b"12 path=a.b\n"
    header = tarfile.TarInfo("././@PaxHeader")
    header.type, header.size = tarfile.XHDTYPE, len(record)
    block = header.tobuf(tarfile.USTAR_FORMAT) + record.ljust(tarfile.BLOCKSIZE, b"\0")
    member = tarfile.TarInfo("model.bin").tobuf(tarfile.USTAR_FORMAT)
    path = tmp_path / "chain.tar.gz"
    with gzip.open(path, "wb") as raw:
        raw.write(block * 5000 + member + b"\0" * 2 * tarfile.BLOCKSIZE)
    with pytest.raises(ExtractionError, match="extended headers in a row"):
        safe_extract(path, tmp_path / "model")
    assert not (tmp_path / "model").exists()


def test_an_archive_over_the_cap_names_the_setting_that_raises_it(s3, bucket, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The endpoint's FailureReason is all a user sees of this: it says what to change."""
    from whisper_async.local.modelstore import ModelStore, ModelUnavailable

    s3.put_object(Bucket=bucket, Key="models/model.tar.gz", Body=b"\0" * 4096)
    store = ModelStore(tmp_path / "models", s3, max_bytes=1024)
    with pytest.raises(ModelUnavailable, match="over the local stack's limit") as refused:
        store.prepare(f"s3://{bucket}/models/model.tar.gz")
    assert "WASYNC_LOCAL_MAX_MODEL_SIZE" in str(refused.value)
    assert list((tmp_path / "models").iterdir()) == []
