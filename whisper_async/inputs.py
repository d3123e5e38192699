"""Turn what the user typed (files, folders, globs, s3:// URIs and prefixes, `-`) into
inputs, lazily.

The arguments are checked up front (a typo is a usage error before anything is uploaded);
folders, globs, S3 prefixes and stdin are then read one input at a time (a prefix one page of
its listing at a time), so a batch of 10,000 files never holds them all in memory. A line of
stdin that names nothing becomes a failed row.
"""

from __future__ import annotations

import glob
import mimetypes
import os
import re
import shlex
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import NotFoundError, UsageError
from .formats import FORMATS

AUDIO_EXTENSIONS = frozenset(
    [
        ".aac",
        ".aif",
        ".aiff",
        ".amr",
        ".flac",
        ".m4a",
        ".mp3",
        ".mpga",
        ".oga",
        ".ogg",
        ".opus",
        ".wav",
        ".weba",
        ".wma",
        ".3gp",
        ".avi",
        ".m4v",
        ".mkv",
        ".mov",
        ".mp4",
        ".mpeg",
        ".mpg",
        ".ts",
        ".webm",
        # more that the server's decoder reads (MEDIA_FORMATS in serving/audio.py)
        ".3g2",
        ".aifc",
        ".ac3",
        ".eac3",
        ".ape",
        ".asf",
        ".au",
        ".snd",
        ".caf",
        ".dts",
        ".dss",
        ".act",
        ".flv",
        ".gsm",
        ".m2ts",
        ".mts",
        ".m4b",
        ".mka",
        ".mp2",
        ".mpa",
        ".ogv",
        ".spx",
        ".tta",
        ".vob",
        ".voc",
        ".w64",
        ".wmv",
        ".wv",
        ".mxf",
        ".bwf",
        ".rf64",
        ".3ga",
        ".3gpp",
        ".m4r",
        ".m4p",
        ".f4v",
        ".qt",
        ".divx",
        ".mod",
        ".tod",
        ".m1a",
        ".mp1",
        ".m2a",
        ".adts",
        ".latm",
        ".loas",
        ".nut",
        ".rm",
        ".ra",
        ".sph",
        ".sox",
        ".ircam",
        ".sf",
        ".8svx",
        ".mmf",
        ".wtv",
        ".ogx",
        ".tak",
        ".mpc",
        ".shn",
        ".dsf",
        ".dff",
        ".awb",
        ".dv",
        ".thd",
        ".mlp",
        ".xwma",
        ".oma",
        ".qcp",
        ".avr",
        ".wve",
        ".pvf",
    ]
)
CONTENT_TYPES = {
    ".wav": "audio/wav",
    ".mp3": "audio/mpeg",
    ".flac": "audio/flac",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/opus",
    ".m4a": "audio/mp4",
    ".aac": "audio/aac",
    ".webm": "audio/webm",
    ".weba": "audio/webm",
    ".mp4": "video/mp4",
    ".mkv": "video/x-matroska",
    ".mov": "video/quicktime",
    ".amr": "audio/amr",
}


@dataclass(frozen=True)
class Input:
    """One thing to transcribe: a local file or an object already in S3 (or, with `problem`
    set, a line of stdin that names neither)."""

    display: str
    path: Path | None = None
    s3_uri: str | None = None
    problem: str | None = None
    # A folder's file: its subfolder under that folder, which `-o DIR` keeps, so that
    # day1/call.wav and day2/call.wav do not both write DIR/call.txt.
    subfolder: Path | None = None

    @property
    def name(self) -> str:
        """The file's name, or the S3 object's key after its last '/'."""
        return self.path.name if self.path else (self.s3_uri or "").rsplit("/", 1)[-1]

    @property
    def stem(self) -> str:
        name = self.name
        return name.rsplit(".", 1)[0] if "." in name else name

    @property
    def suffix(self) -> str:
        name = self.name
        return ("." + name.rsplit(".", 1)[1].lower()) if "." in name else ""


def content_type(suffix: str) -> str:
    return (
        CONTENT_TYPES.get(suffix.lower())
        or mimetypes.guess_type(f"x{suffix}")[0]
        or "application/octet-stream"
    )


def is_audio(path: Path) -> bool:
    return path.suffix.lower() in AUDIO_EXTENSIONS


def _audio_file(path: Path) -> bool:
    """What a folder or a glob sends: a file with an audio or video extension, or an entry
    so named that is no file (a broken link, a pipe): it gets a failed row, not a silent gap."""
    return is_audio(path) and (path.is_file() or os.path.lexists(path))


def not_a_file(path: Path) -> str | None:
    """Why an entry that is there is no file wasync can send (None for a file or a folder)."""
    try:
        if path.is_file() or path.is_dir() or not os.path.lexists(path):
            return None
        if path.is_symlink():
            return f"{path} is a link to {os.readlink(path)}, which does not exist"
        kind = stat.S_IFMT(path.lstat().st_mode)
    except OSError:
        return None  # the caller's own look reports it
    what = {stat.S_IFIFO: "a named pipe", stat.S_IFSOCK: "a socket"}.get(kind, "a device")
    return (
        f"{path} is {what}, not a file: an input is read twice (its job id is the hash of its "
        "content); copy it to a file first"
    )


def _unreadable(error: OSError) -> None:
    raise UsageError(
        f"cannot read folder {error.filename}: {error.strerror or error}",
        "check its permissions, or pass the files you can read",
    )


@dataclass
class LeftOut:
    """Files a folder or glob left out by extension: how many, and the first few names (a
    home folder holds a million, so not all)."""

    count: int = 0
    names: list[str] = field(default_factory=list)

    def add(self, path: Path) -> None:
        if path.suffix.lower().lstrip(".") in FORMATS:
            return  # a transcript (most often wasync's own, beside its audio): no recording
        self.count += 1
        if len(self.names) < 3:
            self.names.append(path.name)

    def note(self, argument: str) -> str | None:
        """Said once: a recording saved as .m4b or .dat would otherwise be missing from the
        batch without a word."""
        if not self.count:
            return None
        shown = ", ".join(self.names) + (", ..." if self.count > len(self.names) else "")
        files = "file" if self.count == 1 else "files"
        return (
            f"{argument}: left out {self.count} {files} without an audio or video extension "
            f"({shown}); name a file on its own to send it whatever its extension"
        )


def walk(directory: Path, left_out: LeftOut | None = None) -> Iterator[Path]:
    """Audio files under a folder in sorted order, one folder's listing in memory at a time.
    A folder that cannot be read is an error, never a silent gap in the batch. Hidden files
    and folders (`.cache`, `.venv`, `.git`) are left out, as `ls` leaves them out: a home
    folder's would bring in every package's test audio; links to folders are not followed
    (a link to a parent would never end). Other files go into `left_out`, when given."""
    for root, folders, files in os.walk(directory, onerror=_unreadable):
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        for name in sorted(n for n in files if not n.startswith(".")):
            path = Path(root) / name
            if _audio_file(path):
                yield path
            elif left_out is not None:
                left_out.add(path)


def _matches(pattern: str) -> Iterable[Path]:
    """What a glob names. `**` goes through pathlib, which does not descend into linked
    folders (glob.glob does, and a link to a parent folder makes it run forever)."""
    if "**" not in pattern:
        return (Path(match) for match in glob.iglob(pattern))
    parts = Path(pattern).parts
    first = next(i for i, part in enumerate(parts) if glob.has_magic(part))
    return Path(*parts[:first]).glob(str(Path(*parts[first:])))


def glob_audio(pattern: str, left_out: LeftOut | None = None) -> Iterator[Path]:
    """Audio files a quoted glob matches, sorted: as a folder's, so `'talks/*'` skips the
    README beside the recordings (a file named on its own is sent whatever its extension).
    Other files go into `left_out`, when given."""
    for match in sorted(_matches(pattern)):
        if _audio_file(match):
            yield match
        elif left_out is not None and match.is_file():
            left_out.add(match)


NO_INPUT_HINT = "pass audio files, folders, globs, s3:// URIs or - for stdin"
# One line, not the whole list of ~100 extensions (AUDIO_EXTENSIONS)
EXTENSIONS_HINT = (
    "folders and globs take files by extension (.wav .mp3 .m4a .flac .ogg .opus .mp4 .webm "
    f"and {len(AUDIO_EXTENSIONS) - 8} more); name a file itself to send it whatever its extension"
)


def _kind(path: Path) -> str | OSError:
    """ "dir", "file" or "" (nothing there), or why the path cannot be looked at (a name
    too long, a folder on the way that cannot be read)."""
    try:
        return "dir" if path.is_dir() else "file" if path.is_file() else ""
    except OSError as error:
        return error


def _cannot_look_at(argument: str, error: OSError) -> str:
    return f"cannot look at {argument}: {error.strerror or error}"


def listing_hint(bucket: str, prefix: str) -> str:
    """How to send every object under an S3 prefix: list its keys into `transcribe -`."""
    # one key per line, spaces and all (`aws s3 ls` splits a key at its spaces)
    listing = (
        f"aws s3api list-objects-v2 --bucket {shlex.quote(bucket)} "
        + (f"--prefix {shlex.quote(prefix)} " if prefix else "")
        + "--query 'Contents[].[Key]' --output text"
    )
    return (
        f"list them into stdin: {listing} | "
        f"sed {shlex.quote(f's|^|s3://{bucket}/|')} | wasync transcribe -"
    )


# (bucket, prefix) -> every key under the prefix, in S3's order (storage.list_keys)
KeyLister = Callable[[str, str], Iterable[str]]
# botocore's own check of a Bucket parameter (handlers.VALID_BUCKET): a name it refuses
# failed with its regex in the message
ANY_BUCKET = re.compile(r"[a-zA-Z0-9.\-_]{1,255}")


def s3_prefix(argument: str) -> tuple[str, str] | None:
    """(bucket, prefix) of an argument that names an S3 prefix (`s3://b/calls/`) or a whole
    bucket (`s3://b`, `s3://b/`); None for anything else."""
    if not argument.startswith("s3://"):
        return None
    if not (argument.endswith("/") or "/" not in argument[5:]):
        return None
    bucket, _, prefix = argument[len("s3://") :].partition("/")
    return bucket, prefix


def prefix_inputs(
    bucket: str, prefix: str, keys: Iterable[str], left_out: LeftOut | None = None
) -> Iterator[Input]:
    """The audio objects under a prefix, as a folder's files: by extension, hidden ones
    (a part that begins with '.', `..` among them) left out, each with its subfolder under
    the prefix, which `-o DIR` keeps."""
    for key in keys:
        parts = [part for part in key[len(prefix) :].split("/") if part]
        if not parts or key.endswith("/") or any(part.startswith(".") for part in parts):
            continue  # a folder marker, or hidden
        if not is_audio(Path(parts[-1])):
            if left_out is not None:
                left_out.add(Path(parts[-1]))
            continue
        uri = f"s3://{bucket}/{key}"
        yield Input(uri, s3_uri=uri, subfolder=Path(*parts[:-1]) if len(parts) > 1 else None)


def bucket_problem(argument: str) -> str | None:
    """Why an s3:// argument's bucket cannot be one, or None."""
    bucket = argument[len("s3://") :].partition("/")[0]
    if not bucket:  # `s3://` alone
        return f"{argument} names no bucket"
    if not ANY_BUCKET.fullmatch(bucket):
        return f"{argument}: {bucket!r} is not an S3 bucket name (letters, digits, '.', '-', '_')"
    return None


def _listed(
    argument: str, bucket: str, prefix: str, list_keys: KeyLister, left_out: LeftOut | None
) -> Iterator[Input]:
    """A prefix's inputs. A listing that fails, or finds no audio, is a failed row of its own
    and the batch goes on (a stdin line's typo, a bucket gone since it was checked)."""
    found = False
    try:
        for item in prefix_inputs(bucket, prefix, list_keys(bucket, prefix), left_out):
            found = True
            yield item
    except Exception as exc:
        from .aws import translate

        reason = translate(exc)  # itself when a WasyncError; None when not AWS's: a bug
        if reason is None:
            raise
        yield Input(argument, problem=f"listing {argument} stopped: {reason}")
        return
    if not found:
        yield Input(argument, problem=f"{argument} holds no audio or video objects")


def _check_prefix(argument: str, bucket: str, prefix: str, list_keys: KeyLister | None) -> None:
    what = "an S3 prefix" if prefix else "an S3 bucket"
    if list_keys is None:
        raise UsageError(
            f"{argument} is {what}, and no listing of S3 was given to read its objects",
            listing_hint(bucket, prefix),
        )
    # Up to its first audio object only: a prefix may hold millions
    try:
        first = next(prefix_inputs(bucket, prefix, list_keys(bucket, prefix)), None)
    except NotFoundError as exc:  # a bucket named wrong: a typo, like a missing folder
        raise UsageError(exc.message, exc.hint) from None
    if first is None:
        raise UsageError(f"{argument} holds no audio or video objects", EXTENSIONS_HINT)


def check_argument(argument: str, list_keys: KeyLister | None = None) -> str | None:
    """Refuse an argument that names nothing, before any upload. Returns a note on the files
    a folder or glob leaves out. An S3 prefix is listed up to its first audio object with
    `list_keys` (without it, a prefix is refused with a listing to pipe in instead)."""
    if not argument.strip():  # "$FILE" with FILE unset
        raise UsageError(
            "an input argument is empty",
            "check the variable that should hold its name; `-` reads names from stdin",
        )
    argument = argument.strip()
    if argument.startswith("s3://") and (problem := bucket_problem(argument)):
        raise UsageError(problem, "use the form s3://bucket/key or s3://bucket/prefix/")
    prefix = s3_prefix(argument)
    if prefix is not None:
        _check_prefix(argument, *prefix, list_keys)
        return None
    if argument == "-" or argument.startswith("s3://"):
        return None
    path = Path(argument).expanduser()
    left_out = LeftOut()
    kind = _kind(path)
    if isinstance(kind, OSError):
        raise UsageError(_cannot_look_at(argument, kind), NO_INPUT_HINT)
    if kind == "dir":
        # the whole tree, so an unreadable folder deep inside is refused before any upload
        if sum(1 for _ in walk(path, left_out)) == 0:
            raise UsageError(f"{argument} holds no audio or video files", EXTENSIONS_HINT)
    elif kind == "file":
        return None
    elif (problem := not_a_file(path)) is not None:
        raise UsageError(problem, NO_INPUT_HINT)
    elif glob.has_magic(argument):
        if sum(1 for _ in glob_audio(str(path), left_out)) == 0:
            raise UsageError(f"{argument} matches no audio or video files", EXTENSIONS_HINT)
    else:
        raise UsageError(f"{argument} does not exist", NO_INPUT_HINT)
    return left_out.note(argument)


def is_one_input(arguments: Sequence[str]) -> bool:
    """The arguments name one file or one S3 object (not a folder, glob, prefix or stdin), so
    its transcript can go to stdout."""
    if len(arguments) != 1:
        return False
    argument = arguments[0].strip()
    if argument.startswith("s3://"):
        return s3_prefix(argument) is None
    return argument != "-" and _kind(Path(argument).expanduser()) == "file"


def _inputs_of(
    argument: str,
    from_stdin: bool,
    list_keys: KeyLister | None,
    left_out: dict[str, LeftOut] | None,
) -> Iterator[Input]:
    exact = argument.rstrip("\r\n")
    argument = argument.strip()
    if from_stdin and exact != argument and _kind(Path(exact).expanduser()) == "file":
        argument = exact  # a name that begins or ends with a space, as `find` prints it
    if not argument:
        return
    if argument.startswith("s3://") and (problem := bucket_problem(argument)):
        yield Input(argument, problem=problem)
        return
    prefix = s3_prefix(argument)
    if prefix is not None and list_keys is not None:
        found = None if left_out is None else left_out.setdefault(argument, LeftOut())
        yield from _listed(argument, *prefix, list_keys, found)
        return
    if argument.startswith("s3://"):
        yield Input(argument, s3_uri=argument)
        return
    path = Path(argument).expanduser()
    kind = _kind(path)
    if isinstance(kind, OSError):
        yield Input(argument, problem=_cannot_look_at(argument, kind))
    elif kind == "dir":
        for file in walk(path):
            subfolder = file.parent.relative_to(path)
            yield Input(str(file), path=file, subfolder=subfolder, problem=not_a_file(file))
    elif kind == "file":
        yield Input(argument, path=path)
    elif glob.has_magic(argument):
        for file in glob_audio(str(path)):
            yield Input(str(file), path=file, problem=not_a_file(file))
    elif from_stdin:
        yield Input(argument, problem=not_a_file(path) or f"{argument} does not exist")


def _same_file_key(item: Input) -> str:
    """One row per name: `a.wav`, `./a.wav` and `dir/../a.wav` are one input, but a link
    `b.wav` to `a.wav` is its own (it has its own transcript, b.txt; the two share a job)."""
    if item.path is None:
        return item.display
    try:
        return str(item.path.parent.resolve() / item.path.name)
    except OSError:
        return str(item.path)


# How audio files begin (RIFF, ID3, MPEG frames, FLAC, Ogg, Matroska); MP4's box size holds NULs
AUDIO_STARTS = (
    b"RIFF",
    b"ID3",
    b"\xff\xfb",
    b"\xff\xf3",
    b"\xff\xf1",
    b"fLaC",
    b"OggS",
    b"\x1aE\xdf\xa3",
)


def check_path_list(head: bytes) -> None:
    """A usage error when stdin's first bytes are audio rather than paths: `-` reads file
    paths, one per line, and audio piped there became dozens of failed rows of binary."""
    if b"\0" in head or head.startswith(AUDIO_STARTS):
        raise UsageError(
            "stdin holds audio (or other binary data), not paths: `-` reads file paths, one "
            "per line.",
            "pass the file itself (wasync transcribe talk.wav), or list paths into stdin "
            "(ls *.wav | wasync transcribe -)",
        )


def stdin_paths(stream: Any) -> Iterable[str]:
    """stdin's lines, once its first bytes are checked to be paths (`check_path_list`)."""
    buffer = getattr(stream, "buffer", None)
    if buffer is not None and hasattr(buffer, "peek"):
        check_path_list(buffer.peek(512)[:512])
    return stream


def iter_inputs(
    arguments: Sequence[str],
    stdin_lines: Iterable[str] = (),
    list_keys: KeyLister | None = None,
    left_out: dict[str, LeftOut] | None = None,
) -> Iterator[Input]:
    """Every input in order, without duplicates; `-` takes paths from stdin, one per line;
    an S3 prefix its audio objects, listed with `list_keys`, the others counted in
    `left_out` under the prefix's argument (known once it is listed, unlike a folder's).
    Call check_argument on each argument first."""
    seen: set[str] = set()
    for argument in arguments:
        lines = stdin_lines if argument == "-" else [argument]
        for line in lines:
            for item in _inputs_of(line, argument == "-", list_keys, left_out):
                key = item.s3_uri or _same_file_key(item)
                if key not in seen:
                    seen.add(key)
                    yield item


def expand(
    arguments: Sequence[str], stdin_lines: Iterable[str] = (), list_keys: KeyLister | None = None
) -> list[Input]:
    """All inputs as a list (for small batches and tests); usage errors for bad arguments."""
    for argument in arguments:
        check_argument(argument, list_keys)
    found = list(iter_inputs(arguments, stdin_lines, list_keys))
    if not found:
        raise UsageError("No inputs to transcribe.", NO_INPUT_HINT)
    return found
