"""Where a batch writes each transcript, and writing it there through no link.

A batch can run for hours, and whoever can add files to an input folder (or to the -o folder)
could replace a subfolder with a link to anywhere while it runs. So a destination is a folder
the user named or the batch saw, pinned by its inode, plus subfolders under it that are opened
one at a time without following links; the file is written by the last folder's descriptor.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from ..files import UnsafeDestinationError, binary_refused, holds_binary, replace_in_folder
from ..inputs import Input

LINK_REFUSED = (
    "is a symbolic link, and a batch writes no transcript through a link (anyone who can add "
    "files to the folder could point one anywhere)"
)


@dataclass(frozen=True)
class Claimant:
    """The input a transcript's path is for: its name, and the folder of a local file."""

    display: str
    folder: str | None

    @classmethod
    def of(cls, item: Input) -> Claimant:
        # abspath, not Path.absolute: `../other/day1` must read as the folder it names
        folder = None if item.path is None else os.path.dirname(os.path.abspath(item.path))
        return cls(item.display, folder)


def shared_destination(path: Path, first: Claimant, second: Claimant) -> str:
    """Why `second` gets no transcript: `first` writes `path` already; and what to do, which
    depends on why the two met (two folders' files under one -o, or one name in two formats)."""
    why = f"{first.display} of this batch writes {path} already"
    if first.folder is not None and second.folder is not None:
        folders = (first.folder, second.folder)
        if folders[0] != folders[1]:
            common = os.path.commonpath(folders)
            return (
                f"{why}: give the folder that holds both ({common}) as the input, and -o keeps "
                "each file's subfolder under DIR; or send them in runs with different -o"
            )
    return (
        f"{why} (a transcript is named after its input, less the extension): pass "
        "--keep-extension to name each after its whole name (call.wav.txt), rename one, or "
        "send them in runs with different -o"
    )


@dataclass(frozen=True)
class Destination:
    folder: Path  # the -o folder, or the folder the input was read from (links followed)
    parts: tuple[str, ...]  # subfolders under it, kept from the input's folder; never links
    name: str
    # (st_dev, st_ino) of `folder` when the batch saw it; None when it did not exist yet
    pinned: tuple[int, int] | None

    @classmethod
    def under(cls, folder: Path, subfolder: Path | None, name: str) -> Destination:
        try:
            found = os.stat(folder)
            pinned: tuple[int, int] | None = (found.st_dev, found.st_ino)
        except OSError:
            pinned = None
        parts = tuple(part for part in (subfolder or Path()).parts if part not in ("", "."))
        return cls(folder, parts, name, pinned)

    @property
    def path(self) -> Path:
        return self.folder.joinpath(*self.parts, self.name)

    def link_in_the_way(self) -> Path | None:
        """The subfolder or file of this destination that is a link now, if any."""
        current = self.folder
        for part in (*self.parts, self.name):
            current = current / part
            if current.is_symlink():
                return current
            if not current.exists():
                return None
        return None

    def exists(self) -> bool:
        return self.path.exists()


def write_transcript(destination: Destination, text: str, overwrite: bool) -> str:
    """Write a transcript; 'written' or 'unchanged'. Without overwrite, an existing file is
    kept: if it already holds this transcript (a resumed batch wrote it) that is success.
    A link anywhere under the destination's folder is refused, as is a folder that is no
    longer the one the batch saw."""
    folder = _open_folder(destination)
    try:
        return _write_in(folder, destination, text, overwrite)
    finally:
        os.close(folder)


def _write_in(
    folder: int, destination: Destination, text: str, overwrite: bool, again: bool = False
) -> str:
    name, path = destination.name, destination.path
    try:
        found = os.stat(name, dir_fd=folder, follow_symlinks=False)
    except FileNotFoundError:
        found = None
    if found is not None:
        if stat.S_ISLNK(found.st_mode):  # made since the batch checked it (Batch._submit)
            raise UnsafeDestinationError(f"it {LINK_REFUSED}")
        if not stat.S_ISREG(found.st_mode):
            raise UnsafeDestinationError(f"{path} is not a regular file; refusing to replace it")
        if not overwrite:
            if _holds(folder, name, text):
                return "unchanged"
            raise FileExistsError(f"{path} already exists with other content; pass --overwrite")
        if holds_binary(name, dir_fd=folder):
            raise binary_refused(path)
    # a new file is linked in, not renamed over: one made meanwhile is never replaced
    try:
        replace_in_folder(folder, name, text, replace=found is not None)
    except FileExistsError:
        if again:
            raise
        # Made since it was looked at: judged as if it had been there, with its own message
        return _write_in(folder, destination, text, overwrite, again=True)
    return "written"


def _holds(folder: int, name: str, text: str) -> bool:
    try:
        descriptor = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=folder)
        with os.fdopen(descriptor, "rb") as handle:
            return handle.read().decode("utf-8") == text
    except (OSError, UnicodeDecodeError):
        return False


def _open_folder(destination: Destination) -> int:
    """The destination's last folder, open: the pinned folder (made if it did not exist),
    then each subfolder, made if missing and opened without following a link."""
    destination.folder.mkdir(parents=True, exist_ok=True)
    folder = os.open(destination.folder, os.O_RDONLY | os.O_DIRECTORY)
    found = os.fstat(folder)
    if destination.pinned is not None and (found.st_dev, found.st_ino) != destination.pinned:
        os.close(folder)
        raise UnsafeDestinationError(
            f"{destination.folder} is no longer the folder the batch started with (replaced "
            "by a link or another folder); nothing was written there"
        )
    current = destination.folder
    for part in destination.parts:
        current = current / part
        try:
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, dir_fd=folder)
            child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=folder)
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
            if current.is_symlink():
                raise UnsafeDestinationError(f"{current} {LINK_REFUSED}") from None
            raise UnsafeDestinationError(f"{current} is not a folder") from None
        finally:
            os.close(folder)
        folder = child
    return folder
