"""push-model: package Whisper weights as model.tar.gz with a manifest and upload them to S3."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from . import image_capabilities, model_languages, state, storage
from .checkpoints import check_checkpoint
from .clients import Clients
from .ctranslate2_files import check_model_bin, check_model_files, model_files
from .errors import UsageError, WasyncError
from .extras import needs_extra
from .manifest import (
    MANIFEST_NAME,
    Manifest,
    ModelLayoutError,
    detect_layout,
    not_a_regular_file,
)
from .progress import Advance, ProgressFactory, no_progress

OPENAI_BASE = "https://openaipublic.azureedge.net/main/whisper/models"
# OpenAI's published checkpoints; the path embeds each file's sha256, which we verify.
OPENAI_CHECKPOINTS = {
    "tiny.en": "d3dd57d32accea0b295c96e26691aa14d8822fac7d9d27d5dc00b4ca2826dd03",
    "tiny": "65147644a518d12f04e32d6f3b26facc3f8dd46e5390956a9424a650c0ce22b9",
    "base.en": "25a8566e1d0c1e2231d1c762132cd20e0f96a85d16145c3a00adf5d1ac670ead",
    "base": "ed3a0b6b1c0edf879ad9b11b1af5a0e6ab5db9205f891f668f8b0e6c6326e34e",
    "small.en": "f953ad0fd29cacd07d5a9eda5624af0f6bcf2258be67c92b79389873d91e0872",
    "small": "9ecf779972d90ba49c06d968637d720dd632c55bbf19d441fb42bf17a411e794",
    "medium.en": "d7440d1dc186f76616474e0ff0b3b6b879abc9d1a4926b7adfa41db2d497ab4f",
    "medium": "345ae4da62f9b3d59415adc60127b97c714f32e89e936602e85993674d08dcb1",
    "large-v1": "e4b87e7e0bf463eb8e6956e646f1e277e901512310def2c24bf0e11bd3c28e9a",
    "large-v2": "81f7c96c852ee8fc832187b0132e569d6c3065a3252ed18e56effd0b6a73e524",
    "large-v3": "e5b1a55b89c1367dacf97e3e19bfd829a01529dbfdeefa8caeb59b3f1b81dadb",
    "large-v3-turbo": "aff26ae408abcba5fbf8813c21e62b0941638c5f6eebfb145be0c9839262a19a",
}
OPENAI_ALIASES = {"large": "large-v3", "turbo": "large-v3-turbo"}
FASTER_REPOS = {
    **{
        name: f"Systran/faster-whisper-{name}"
        for name in (
            "tiny.en",
            "tiny",
            "base.en",
            "base",
            "small.en",
            "small",
            "medium.en",
            "medium",
            "large-v1",
            "large-v2",
            "large-v3",
        )
    },
    "large": "Systran/faster-whisper-large-v3",
    "turbo": "mobiuslabsgmbh/faster-whisper-large-v3-turbo",
    "large-v3-turbo": "mobiuslabsgmbh/faster-whisper-large-v3-turbo",
}
MODEL_NAMES = tuple(sorted(set(OPENAI_CHECKPOINTS) | set(OPENAI_ALIASES)))
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


@dataclass(frozen=True)
class PushResult:
    uri: str
    engine: str
    name: str
    sha256: str
    size: int
    skipped: bool
    source: str = ""  # what SOURCE was taken for: "published model 'tiny'", "local folder ..."
    left_out: tuple[str, ...] = ()  # files in the folder that are not part of the model
    languages: str | None = None  # "en" (English-only), "multilingual"; None: unknown


@dataclass(frozen=True)
class ModelSource:
    """Files ready to package: (path on disk, name inside the tarball)."""

    engine: str
    name: str
    files: tuple[tuple[Path, str], ...]
    left_out: tuple[str, ...] = ()  # files beside the model's that are not packaged
    languages: str | None = None  # model_languages.ENGLISH or MULTILINGUAL; None: unknown


def _openai_url(name: str) -> tuple[str, str]:
    canonical = OPENAI_ALIASES.get(name, name)
    sha = OPENAI_CHECKPOINTS[canonical]
    return f"{OPENAI_BASE}/{sha}/{canonical}.pt", sha


def download_checkpoint(
    url: str, expected_sha256: str, target: Path, progress: ProgressFactory
) -> Path:
    """Download with a streaming sha256 check; refuse (and delete) on a mismatch."""
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=60) as response, target.open("wb") as out:  # noqa: S310 - a fixed https URL
            total = int(response.headers.get("Content-Length") or 0) or None
            advance = progress(f"download {target.name}", total)
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
                advance(len(chunk))
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        target.unlink(missing_ok=True)
        raise WasyncError(
            f"Cannot download {url}: {exc}",
            "you may be offline; download the checkpoint elsewhere and pass its local path",
        ) from exc
    if digest.hexdigest() != expected_sha256:
        target.unlink(missing_ok=True)
        raise WasyncError(
            f"Checksum mismatch for {url}: got {digest.hexdigest()}, expected {expected_sha256}",
            "the download is corrupt or was tampered with; it was deleted, nothing was uploaded",
        )
    return target


def _hub_download(name: str, workdir: Path) -> Path:
    with needs_extra(
        "hub", "Downloading faster-whisper models by name", "pass a local CTranslate2 directory"
    ):
        from huggingface_hub import snapshot_download
    try:
        return Path(snapshot_download(FASTER_REPOS[name], local_dir=workdir / name))
    except Exception as exc:
        # the Hub's errors run over several lines, the first says what failed
        reason = next(iter(str(exc).splitlines()), "") or type(exc).__name__
        raise WasyncError(
            f"Cannot download {FASTER_REPOS[name]} from the Hugging Face Hub: {reason}",
            "you may be offline; pass a local CTranslate2 directory instead",
        ) from exc


@dataclass(frozen=True)
class SourceChoice:
    """What push-model's SOURCE was taken for: a published model name or a local path."""

    source: str  # as the user typed it
    path: Path | None  # the local file or folder; None for a published model name
    shadowed: Path | None = None  # a local path with the same name that was not used

    @property
    def description(self) -> str:
        if self.path is None:
            text = f"published model {self.source!r}"
            if self.shadowed is not None:
                kind = "folder" if self.shadowed.is_dir() else "file"
                text += (
                    f" (a {kind} named {self.source} is here too; pass ./{self.source} "
                    "to push it instead)"
                )
            return text
        kind = "folder" if self.path.is_dir() else "file"
        return f"local {kind} {self.path}"


def _looks_like_path(source: str) -> bool:
    separators = {"/", os.sep, os.altsep or "/"}
    return (
        any(s in source for s in separators)
        or source.startswith((".", "~"))
        or source.endswith(".pt")
    )


def choose_source(source: str) -> SourceChoice:
    """A published model name wins over a file or folder of the same name, unless SOURCE
    looks like a path (`./tiny`, `models/tiny`, `~/tiny`, `tiny.pt`); any other SOURCE that
    exists is a path. So `push-model tiny` never depends on what the current folder holds."""
    if not source.strip():  # "$(python -c ...)" that failed: never the current folder
        raise UsageError(
            "SOURCE is empty",
            f"pass a model name ({', '.join(MODEL_NAMES[:3])}, ...), a .pt file or a folder",
        )
    path = Path(source).expanduser()
    if source in MODEL_NAMES and not _looks_like_path(source):
        return SourceChoice(source, None, path if path.exists() else None)
    if path.exists():
        return SourceChoice(source, path)
    if _looks_like_path(source):
        raise UsageError(
            f"{source} does not exist", "pass an existing .pt file or CTranslate2 folder"
        )
    raise UsageError(
        f"{source!r} is neither a Whisper model name nor an existing file or folder",
        f"known names: {', '.join(MODEL_NAMES)}",
    )


def resolve_source(
    source: str | SourceChoice,
    engine: str | None,
    name: str | None,
    workdir: Path,
    progress: ProgressFactory,
) -> ModelSource:
    """A local .pt file, a local model directory, or a published model name."""
    choice = source if isinstance(source, SourceChoice) else choose_source(source)
    path = choice.path
    if path is not None:
        if not path.is_file() and not path.is_dir():  # a pipe would be read for ever
            raise UsageError(str(not_a_regular_file(path)), "pass a .pt file or a folder")
        if path.is_file():
            if path.suffix != ".pt":
                raise UsageError(
                    f"{path} is not a *.pt checkpoint", "pass a .pt file or a CTranslate2 directory"
                )
            _check_engine(engine, "openai", path)
            return _openai_source(path, name or path.stem)
        try:
            layout = detect_layout(path)
        except ModelLayoutError as exc:
            raise UsageError(str(exc)) from exc
        _check_engine(engine, layout.engine, path)
        if layout.engine == "openai":
            return _openai_source(layout.weights, name or layout.name)
        return _faster_source(path, name or Path(os.path.abspath(path)).name)
    source = choice.source
    engine = engine or "faster"
    if engine == "openai":
        url, sha = _openai_url(source)
        checkpoint = download_checkpoint(url, sha, workdir / f"{source}.pt", progress)
        return _openai_source(checkpoint, name or source)
    return _faster_source(_hub_download(source, workdir), name or f"faster-{source}")


def _faster_source(directory: Path, name: str) -> ModelSource:
    """A CTranslate2 folder's model files, model.bin checked whole; the rest left out."""
    try:
        files, left_out = model_files(directory)
        check_model_files(directory, files)
        check_model_bin(directory / "model.bin")
    except ModelLayoutError as exc:
        raise UsageError(str(exc), "copy or convert the model again") from None
    return ModelSource(
        "faster",
        name,
        tuple((f, f.name) for f in files),
        tuple(left_out),
        model_languages.of_ctranslate2(directory),
    )


def _openai_source(path: Path, name: str) -> ModelSource:
    """A checked openai-whisper checkpoint; its vocabulary size tells its languages."""
    try:
        dims = check_checkpoint(path)
    except ModelLayoutError as exc:
        raise UsageError(str(exc)) from exc
    languages = model_languages.of_vocabulary_size(dims["n_vocab"])
    return ModelSource("openai", name, ((path, path.name),), languages=languages)


def _check_engine(requested: str | None, found: str, path: Path) -> None:
    if requested and requested != found:
        raise UsageError(
            f"{path} holds {found} weights, not {requested}", f"use --engine {found} or omit it"
        )


def content_sha256(source: ModelSource, progress: ProgressFactory) -> str:
    """A single checkpoint's own sha256; for a directory, one digest over its files."""
    total = sum(p.stat().st_size for p, _ in source.files)
    advance = progress("sha256", total)
    if len(source.files) == 1:
        return storage.sha256_file(source.files[0][0], advance)
    tree = hashlib.sha256()
    for path, arcname in sorted(source.files, key=lambda f: f[1]):
        tree.update(f"{arcname}\0{storage.sha256_file(path, advance)}\n".encode())
    return tree.hexdigest()


class _CountingReader:
    def __init__(self, handle: BinaryIO, advance: Advance) -> None:
        self.handle = handle
        self.advance = advance

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(size)
        self.advance(len(data))
        return data


def write_tarball(
    source: ModelSource, manifest: Manifest, target: Path, progress: ProgressFactory
) -> Path:
    """Stream the weights and the manifest into a gzip tarball at a low compression level."""
    total = sum(p.stat().st_size for p, _ in source.files)
    advance = progress("package", total)
    manifest_path = target.parent / MANIFEST_NAME
    manifest_path.write_text(manifest.to_json())
    # Level 1: weights barely compress, and higher levels only cost time.
    with tarfile.open(target, "w:gz", compresslevel=1) as tar:
        for path, arcname in (*source.files, (manifest_path, MANIFEST_NAME)):
            with path.open("rb") as handle:
                # The opened file's own stat, not a link's: a Hugging Face snapshot folder is
                # links to its blobs, and a link in the tarball would carry no weights.
                info = tar.gettarinfo(arcname=arcname, fileobj=handle)
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                tar.addfile(info, _CountingReader(handle, advance))
    return target


def model_uri(clients: Clients, name: str, sha256: str) -> storage.S3Uri:
    return storage.S3Uri(
        clients.bucket, f"{clients.prefix}models/{name}-{sha256[:12]}/model.tar.gz"
    )


@contextmanager
def _workdir() -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="wasync-model-"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def push_model(
    clients: Clients,
    source: str | SourceChoice,
    engine: str | None = None,
    name: str | None = None,
    progress: ProgressFactory = no_progress,
) -> PushResult:
    if engine not in {None, "openai", "faster"}:
        raise UsageError(f"unknown engine {engine!r}", "use --engine faster or --engine openai")
    if name is not None and not NAME_PATTERN.fullmatch(name):
        raise UsageError(
            f"model name {name!r} is not allowed", "use letters, digits, '.', '_' and '-'"
        )
    choice = source if isinstance(source, SourceChoice) else choose_source(source)
    state.check_writable(clients.settings)
    with _workdir() as workdir:
        resolved = resolve_source(choice, engine, name, workdir, progress)
        image_capabilities.check_model_fits(
            clients, image_capabilities.default_image(clients), resolved.engine, "push-model"
        )
        if not NAME_PATTERN.fullmatch(resolved.name):
            raise UsageError(f"model name {resolved.name!r} is not allowed", "pass --name")
        sha256 = content_sha256(resolved, progress)
        storage.ensure_bucket(clients)
        uri = model_uri(clients, resolved.name, sha256)
        existing = storage.head(clients, uri)
        recorded = (existing or {}).get("Metadata", {})
        # An upload from before the languages were recorded is made again, once, to record them
        skipped = recorded.get("sha256") == sha256 and (
            resolved.languages is None or model_languages.METADATA_KEY in recorded
        )
        if existing and skipped:
            size = int(existing["ContentLength"])
        else:
            manifest = Manifest(engine=resolved.engine, name=resolved.name, sha256=sha256)
            tarball = write_tarball(resolved, manifest, workdir / "model.tar.gz", progress)
            metadata = {
                "sha256": sha256,
                "engine": resolved.engine,
                "wasync-format": str(manifest.format_version),
            }
            if resolved.languages:
                metadata[model_languages.METADATA_KEY] = resolved.languages
            # The sha256 metadata is what marks the object complete; it is set in the same
            # (multipart) upload, which S3 only makes visible once every part has arrived.
            storage.upload(clients, tarball, uri, "application/gzip", metadata, progress)
            size = tarball.stat().st_size
        result = PushResult(
            str(uri),
            resolved.engine,
            resolved.name,
            sha256,
            size,
            skipped,
            choice.description,
            resolved.left_out,
            resolved.languages,
        )
    state.remember(clients.settings, clients.region, "model_uri", result.uri)
    return result
