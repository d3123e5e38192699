"""Unpack a model.tar.gz safely: no path outside the target, no links or devices, and a cap on
how much it may expand to (a 2.8 MB archive once expanded to 2.1 GB)."""

from __future__ import annotations

import re
import shutil
import tarfile
import zlib
from pathlib import Path

from ..digits import human_size
from ..errors import quoted

MAX_MODEL_SIZE_ENV = "WASYNC_LOCAL_MAX_MODEL_SIZE"
DEFAULT_MAX_MODEL_BYTES = 8 * 1024**3  # every Whisper model fits, float32 large-v3 (6.2 GB) too
# tarfile keeps every entry it has read, name included: 20,000 entries of 60 KB names took
# 1.2 GB before the first was written. A model needs a handful of files and short names.
MAX_MEMBERS = 10_000
MAX_NAME_BYTES = 4096  # Linux's PATH_MAX: a longer name could not be written anyway
# tarfile reads a GNU long-name or a pax header whole before any member can be checked: 20 KB of
# gzip once held a 20 MiB name (and 300 KB took 2.4 GB to read). A model's names need far less.
MAX_HEADER_BYTES = 64 * 1024
_EXTENDED_HEADERS = (
    tarfile.GNUTYPE_LONGNAME,
    tarfile.GNUTYPE_LONGLINK,
    tarfile.XHDTYPE,
    tarfile.SOLARIS_XHDTYPE,
)
MAX_EXTENDED_CHAIN = 8  # a long name, a long link name and a pax header need three
_SHOWN_NAME = 120
_CHUNK = 1024 * 1024
_UNITS = {"": 1, "b": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4}


class ExtractionError(ValueError):
    pass


def parse_size(text: str) -> int:
    """Bytes from `8GiB`, `500MB`, `2g` or a plain number of bytes."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)b?\s*", text.lower(), re.ASCII)
    if match is None or (match.group(3) and not match.group(2)):
        raise ValueError(f"{text!r} is not a size; write it as 8GiB, 500MB or a number of bytes")
    number, unit, binary = match.groups()
    scale = 1024 ** "bkmgt".index(unit) if binary else _UNITS[unit]
    return int(float(number) * scale)


RAISE_THE_LIMIT = (
    f"raise it with {MAX_MODEL_SIZE_ENV} before `wasync local up` if the model really is that large"
)


def _too_big(size: int, limit: int) -> ExtractionError:
    return ExtractionError(
        f"model.tar.gz expands to more than {human_size(limit)} (at least {human_size(size)}), "
        f"over the local stack's limit; {RAISE_THE_LIMIT}"
    )


class _BoundedHeaders(tarfile.TarInfo):
    """A member whose long-name or pax header is over MAX_HEADER_BYTES is refused before
    tarfile reads that header into memory."""

    def _proc_member(self, archive: tarfile.TarFile) -> tarfile.TarInfo:
        if self.type == tarfile.XGLTYPE:
            # tarfile copies a global header's keys into every later member: one 60 KB header
            # and 3,000 entries took 612 MB. Models are never packed with one.
            raise ExtractionError(
                "model.tar.gz has a global pax header; pack the model with a plain tar "
                "(wasync push-model, or tar -czf)"
            )
        if self.type in _EXTENDED_HEADERS:
            if self.size > MAX_HEADER_BYTES:
                raise ExtractionError(
                    f"model.tar.gz has a {human_size(self.size)} name or extended header "
                    f"(at most {human_size(MAX_HEADER_BYTES)}); pack the model with plain file "
                    "names"
                )
            # tarfile reads the header each one describes by recursion: thousands in a row
            # ended in RecursionError
            chain = getattr(archive, "_extended_chain", 0) + 1
            if chain > MAX_EXTENDED_CHAIN:
                raise ExtractionError(
                    f"model.tar.gz has more than {MAX_EXTENDED_CHAIN} extended headers in a row; "
                    "pack the model with a plain tar"
                )
            archive._extended_chain = chain  # type: ignore[attr-defined]
        else:
            archive._extended_chain = 0  # type: ignore[attr-defined]
        return super()._proc_member(archive)  # type: ignore[misc]


def _check_member(member: tarfile.TarInfo) -> None:
    name = quoted(member.name, _SHOWN_NAME)
    if member.name.startswith("/") or ".." in Path(member.name).parts:
        raise ExtractionError(f"model.tar.gz entry {name} points outside the model directory")
    if len(member.name.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
        raise ExtractionError(
            f"model.tar.gz entry {name} has a name over {MAX_NAME_BYTES} bytes; pack the model "
            "with plain file names"
        )
    if member.issym() or member.islnk():
        raise ExtractionError(f"model.tar.gz entry {name} is a link; links are not allowed")
    if not (member.isfile() or member.isdir()):
        raise ExtractionError(f"model.tar.gz entry {name} is not a regular file")


def _copy_capped(tar: tarfile.TarFile, member: tarfile.TarInfo, path: Path, budget: int) -> int:
    """Write one member's bytes, counting what is really written; return the bytes."""
    source = tar.extractfile(member)
    assert source is not None  # a regular file
    written = 0
    with source, path.open("wb") as sink:
        while chunk := source.read(_CHUNK):
            written += len(chunk)
            if written > budget:
                raise _too_big(written, budget)
            sink.write(chunk)
    return written


def safe_extract(
    archive: Path,
    target: Path,
    max_bytes: int = DEFAULT_MAX_MODEL_BYTES,
    max_members: int = MAX_MEMBERS,
) -> None:
    """Unpack model.tar.gz into `target`, refusing absolute paths, `..`, links, devices and
    more than `max_bytes` in all: checked from the members' sizes before anything is written,
    and again while writing. On any refusal nothing stays in `target`."""
    target.mkdir(parents=True, exist_ok=True)
    current: str | None = None  # the entry being written
    try:
        with tarfile.open(archive, "r:*", tarinfo=_BoundedHeaders) as tar:
            members = []
            declared = 0
            for member in tar:  # streams the headers; a bomb of entries stops at the cap
                _check_member(member)
                members.append(member)
                if len(members) > max_members:
                    raise ExtractionError(
                        f"model.tar.gz has more than {max_members:,} entries; "
                        "a model needs a handful of files"
                    )
                declared += member.size if member.isfile() else 0
                if declared > max_bytes:
                    raise _too_big(declared, max_bytes)
            written = 0
            root = target.resolve()
            for member in members:
                current = member.name
                path = target / member.name
                if not path.resolve().is_relative_to(root):
                    name = quoted(member.name, _SHOWN_NAME)
                    raise ExtractionError(
                        f"model.tar.gz entry {name} points outside the model directory"
                    )
                if member.isdir():
                    path.mkdir(parents=True, exist_ok=True)
                    continue
                path.parent.mkdir(parents=True, exist_ok=True)
                written += _copy_capped(tar, member, path, max_bytes - written)
            current = None
            # tarfile stops without a word at the end marker, or at a header it cannot read
            # after the first: a damaged archive lost its last three files so. Reading the
            # stream to its end checks gzip's CRC.
            assert tar.fileobj is not None
            while tar.fileobj.read(_CHUNK):
                pass
    except ExtractionError:
        shutil.rmtree(target, ignore_errors=True)
        raise
    except (tarfile.TarError, OSError, EOFError, zlib.error, RecursionError) as exc:
        shutil.rmtree(target, ignore_errors=True)
        # the entry's name, not the stack's path to it (the message is the endpoint's reason)
        where = "" if current is None else f" at entry {quoted(current, _SHOWN_NAME)}"
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise ExtractionError(
            f"cannot unpack model.tar.gz{where}: {why} (a damaged or cut-short archive: push the "
            "model again)"
        ) from exc
