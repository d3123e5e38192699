"""File helpers shared by the CLI, the jobs and the local stack."""

from __future__ import annotations

import codecs
import contextlib
import errno
import os
import secrets
import stat
import tempfile
import threading
from pathlib import Path

_UMASK_LOCK = threading.Lock()


class UnsafeDestinationError(OSError):
    """The destination exists and is not a regular file (a device, a folder, a FIFO...)."""


def current_umask() -> int:
    """The process umask, read without changing it where Linux allows (os.umask can only
    read by setting, which would race with other threads creating files)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def final_target(path: Path) -> Path:
    """Where writing `path` really lands: a symlink is followed (its target is replaced, the
    link stays); anything that exists and is not a regular file is refused."""
    target = Path(os.path.realpath(path))
    try:
        mode = target.stat().st_mode
    except FileNotFoundError:
        return target
    if not stat.S_ISREG(mode):
        raise UnsafeDestinationError(f"{path} is not a regular file; refusing to replace it")
    return target


def holds_binary(name: str | Path, dir_fd: int | None = None) -> bool:
    """Whether the file's first 4 KiB are not text (`is_binary`): audio or video, say,
    which a transcript written with --overwrite must never replace."""
    try:
        descriptor = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    except OSError:
        return False
    try:  # a folder or a pipe is no binary file: its write refuses it, saying why
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            return False
        return is_binary(os.read(descriptor, 4096))
    except OSError:
        return False
    finally:
        os.close(descriptor)


# Bytes that text holds besides printable ones: whitespace, backspace, escape (colours),
# and DOS's end-of-file mark
TEXT_CONTROLS = frozenset(b"\t\n\r\f\b\x1b\x1a")
# 8-bit text other than UTF-8 (Latin-1, Windows-1252) is mostly ASCII; audio is not
MOST_HIGH_BYTES = 0.3
# Older transcripts in Japanese, Chinese and Korean: mostly high bytes, in valid sequences
EAST_ASIAN_ENCODINGS = ("shift_jis", "euc_jp", "gbk", "big5", "euc_kr")


def is_binary(head: bytes) -> bool:
    """Whether these first bytes of something are not text. Text is UTF-8, UTF-16 (with its
    byte order mark or without), or another 8-bit encoding (an old transcript in Windows-1252)
    that is mostly ASCII; none has control bytes but whitespace. Audio and video have NULs or
    control bytes in their first KiB, or mostly high bytes (quiet mu-law)."""
    head = head[:4096]
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return not _text(head, "utf-16")
    if b"\0" in head:
        return not (_text(head, "utf-16-le") or _text(head, "utf-16-be"))
    if _text(head, "utf-8") or any(_text(head, e) for e in EAST_ASIAN_ENCODINGS):
        return False
    high = sum(byte >= 0x80 for byte in head)
    return high > MOST_HIGH_BYTES * len(head) or not (
        _text(head, "cp1252") or _text(head, "latin-1")
    )


def _text(head: bytes, encoding: str) -> bool:
    """Whether `head` decodes as `encoding` to characters text holds (its end may cut one)."""
    try:
        decoded = codecs.getincrementaldecoder(encoding)().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return not any(
        (ord(c) < 0x20 and ord(c) not in TEXT_CONTROLS) or 0x7F <= ord(c) < 0xA0 for c in decoded
    )


def binary_refused(path: Path) -> UnsafeDestinationError:
    return UnsafeDestinationError(
        f"{path} holds binary data (audio or video?), not a transcript; refusing to replace it"
    )


def named_file(text: str, flag: str) -> Path:
    """The file an option such as `-o` names. A path that ends in a slash names a folder: as a
    Path it would lose the slash and become a file of the folder's name."""
    if text.endswith(("/", os.sep)):
        raise ValueError(
            f"{flag} {text} ends with {text[-1]!r}, so it names a folder; {flag} takes a file"
        )
    return Path(text)


def check_writable(folder: Path) -> None:
    """OSError unless a file can be made in `folder` (a read-only mount, /proc, no rights)."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except FileNotFoundError as exc:
        if not folder.is_dir():
            raise
        # /proc answers ENOENT: "No such file or directory" of a folder that is there
        raise OSError(exc.errno, "the folder takes no new files") from None


def write_atomically(path: Path, text: str | bytes, replace: bool = True) -> Path:
    """Write via a temporary file in the same folder and rename: never a half-written file.

    Links are written through, special files refused; an existing file keeps its mode, a new
    one gets the mode `open()` would give it (0666 less the umask). With `replace` False,
    whatever is at `path` by the time of the write, a link to nothing too, is left alone
    (FileExistsError). Returns the file written.
    """
    if not replace and os.path.lexists(path):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(path))
    target = final_target(path)
    folder = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        replace_in_folder(folder, target.name, text, replace)
    finally:
        os.close(folder)
    return target


NAME_MAX = 255  # bytes in one file name: Linux's file systems, APFS and NTFS (in characters)


def name_too_long(name: str) -> str | None:
    """Why a file cannot be named `name` (a name, not a path), or None when it can."""
    size = len(os.fsencode(name))
    if size <= NAME_MAX:
        return None
    return f"longer than file systems allow ({size} bytes, at most {NAME_MAX})"


def _linked_in(folder: int, temp: str, name: str) -> bool:
    """Link `temp` in as `name` and remove `temp`; False, having checked that `name` is still
    free, where the file system makes no hard links (FAT, some network mounts)."""
    try:
        os.link(temp, name, src_dir_fd=folder, dst_dir_fd=folder, follow_symlinks=False)
    except FileExistsError:
        raise
    except OSError:
        if _exists_in(folder, name):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), name) from None
        return False
    os.unlink(temp, dir_fd=folder)
    return True


def _exists_in(folder: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=folder, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def replace_in_folder(folder: int, name: str, text: str | bytes, replace: bool = True) -> None:
    """Write `name` in the open folder `folder` atomically (a temporary file, then a rename),
    by the folder's descriptor: a link swapped in for the folder since it was opened changes
    nothing. An existing file keeps its mode; a new one gets 0666 less the umask. With
    `replace` False the temporary file is linked in under `name`, which fails
    (FileExistsError) if anything, a link too, took the name since it was checked."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    try:
        mode = stat.S_IMODE(os.stat(name, dir_fd=folder).st_mode)
    except FileNotFoundError:
        mode = 0o666 & ~current_umask()
    temp = f".{name}.{secrets.token_hex(6)}.tmp"
    if len(os.fsencode(temp)) > NAME_MAX:  # a name near the limit: its temporary would pass it
        temp = f".wasync.{secrets.token_hex(6)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    descriptor = os.open(temp, flags, 0o600, dir_fd=folder)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
        if replace or not _linked_in(folder, temp, name):
            os.replace(temp, name, src_dir_fd=folder, dst_dir_fd=folder)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp, dir_fd=folder)
        raise
