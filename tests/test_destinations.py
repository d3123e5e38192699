"""A batch's transcript destinations: no transcript lands outside the folder the batch saw,
whatever links appear in it while the batch runs (jobs/destinations.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from whisper_async.files import UnsafeDestinationError
from whisper_async.inputs import Input
from whisper_async.jobs.destinations import (
    Claimant,
    Destination,
    shared_destination,
    write_transcript,
)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    return folder


def test_an_input_folder_swapped_for_a_link_during_the_batch_is_refused(
    tmp_path: Path, outside: Path
) -> None:
    """The batch saw talks/day1; someone who can write to talks/ replaces day1 with a link."""
    day1 = tmp_path / "talks" / "day1"
    day1.mkdir(parents=True)
    destination = Destination.under(day1, None, "call.txt")  # when the batch read the input
    day1.rename(tmp_path / "talks" / "moved")
    day1.symlink_to(outside)
    with pytest.raises(UnsafeDestinationError, match="no longer the folder the batch started"):
        write_transcript(destination, "text", overwrite=True)
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize("when", ["before the batch", "during the batch"])
def test_a_subfolder_of_the_output_folder_that_is_a_link_is_refused(
    tmp_path: Path, outside: Path, when: str
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    if when == "before the batch":
        (out / "day1").symlink_to(outside)
    destination = Destination.under(out, Path("day1/morning"), "call.txt")
    if when == "during the batch":
        (out / "day1").symlink_to(outside)
    assert destination.link_in_the_way() == out / "day1"
    with pytest.raises(UnsafeDestinationError, match="day1 is a symbolic link"):
        write_transcript(destination, "text", overwrite=True)
    assert list(outside.iterdir()) == []


def test_subfolders_are_made_and_the_transcript_written(tmp_path: Path) -> None:
    out = tmp_path / "out"  # does not exist yet: made at the first transcript
    destination = Destination.under(out, Path("day1/morning"), "call.txt")
    assert destination.link_in_the_way() is None
    assert write_transcript(destination, "hello", overwrite=False) == "written"
    assert (out / "day1" / "morning" / "call.txt").read_text() == "hello"
    assert write_transcript(destination, "hello", overwrite=False) == "unchanged"
    with pytest.raises(FileExistsError, match="pass --overwrite"):
        write_transcript(destination, "other", overwrite=False)
    assert write_transcript(destination, "other", overwrite=True) == "written"
    assert sorted(p.name for p in (out / "day1" / "morning").iterdir()) == ["call.txt"]


def test_a_file_where_a_subfolder_goes_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "day1").write_text("not a folder")
    destination = Destination.under(out, Path("day1"), "call.txt")
    with pytest.raises(UnsafeDestinationError, match="day1 is not a folder"):
        write_transcript(destination, "text", overwrite=True)


def test_the_folder_that_holds_both_reads_dot_dot_as_the_folder_it_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From w/days, `day1` and `../other/day1` meet in w, not in w/days."""
    for folder in ("w/days/day1", "w/other/day1"):
        (tmp_path / folder).mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "w" / "days")
    here, there = (Path("day1/call.wav"), Path("../other/day1/call.wav"))
    first, second = (Claimant.of(Input(str(p), path=p)) for p in (here, there))
    message = shared_destination(Path("out/call.txt"), first, second)
    assert f"({tmp_path / 'w'})" in message


@pytest.mark.parametrize(
    ("made", "overwrite", "outcome"),
    [("other text", False, "refused"), ("text", False, "unchanged"), ("other", True, "written")],
)
def test_a_file_made_just_before_the_transcript_is_linked_in_is_judged_as_one_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, made: str, overwrite: bool, outcome: str
) -> None:
    """Another process took the name between the check and the link: the row said
    "[Errno 17] File exists: 'call.txt'", not what to do."""
    import os

    real_link = os.link
    target = tmp_path / "call.txt"

    def another_process_first(*args: object, **kwargs: object) -> None:
        if not target.exists():
            target.write_text(made)
        real_link(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "link", another_process_first)
    destination = Destination.under(tmp_path, None, "call.txt")
    if outcome == "refused":
        with pytest.raises(FileExistsError, match="already exists with other content; pass --ov"):
            write_transcript(destination, "text", overwrite=overwrite)
        assert target.read_text() == made
    else:
        assert write_transcript(destination, "text", overwrite=overwrite) == outcome
        assert target.read_text() == "text"
    assert [p.name for p in tmp_path.iterdir()] == ["call.txt"]  # no temporary file left
