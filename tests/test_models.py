"""push-model against moto's S3, with real model files."""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.helpers.models import checkpoint_file, small_model_bin
from whisper_async.checkpoints import DIMENSIONS, REQUIRED_WEIGHTS
from whisper_async.clients import Clients
from whisper_async.errors import ConfigurationError, UsageError, WasyncError
from whisper_async.manifest import MANIFEST_NAME, read_manifest
from whisper_async.models import choose_source, download_checkpoint, push_model
from whisper_async.progress import no_progress
from whisper_async.settings import resolve
from whisper_async.storage import S3Uri


@pytest.fixture
def small_ctranslate2(tmp_path: Path, tiny_en_dir: Path) -> Path:
    """A CTranslate2-shaped directory with small files (the upload path is what is tested)."""
    directory = tmp_path / "tiny-ct2"
    directory.mkdir()
    small_model_bin(directory / "model.bin")
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        (directory / name).write_bytes((tiny_en_dir / name).read_bytes())
    return directory


def download_object(clients, uri: str, target: Path) -> Path:  # type: ignore[no-untyped-def]
    s3uri = S3Uri.parse(uri)
    clients.client("s3").download_file(s3uri.bucket, s3uri.key, str(target))
    return target


def test_ctranslate2_directory_uploads_as_tarball_with_manifest(
    moto_clients, small_ctranslate2: Path, tmp_path: Path
) -> None:
    result = push_model(moto_clients, str(small_ctranslate2))

    assert result.engine == "faster" and not result.skipped
    assert (
        result.uri
        == f"s3://sagemaker-us-east-1-123456789012/wasync/models/tiny-ct2-{result.sha256[:12]}/model.tar.gz"
    )
    head = moto_clients.client("s3").head_object(
        **{"Bucket": S3Uri.parse(result.uri).bucket, "Key": S3Uri.parse(result.uri).key}
    )
    assert head["Metadata"]["sha256"] == result.sha256
    archive = download_object(moto_clients, result.uri, tmp_path / "model.tar.gz")
    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == sorted(
            ["model.bin", "config.json", "tokenizer.json", "vocabulary.txt", MANIFEST_NAME]
        )
        tar.extractall(tmp_path / "out", filter="data")
    manifest = read_manifest(tmp_path / "out")
    assert manifest is not None and manifest.engine == "faster" and manifest.sha256 == result.sha256
    assert (tmp_path / "out" / "model.bin").read_bytes() == (
        small_ctranslate2 / "model.bin"
    ).read_bytes()


def test_a_folder_of_links_uploads_the_files_they_point_to(
    moto_clients, small_ctranslate2: Path, tmp_path: Path
) -> None:
    """A Hugging Face snapshot folder is links to its repo's blobs: snapshots/REV/NAME ->
    ../../blobs/HASH, as huggingface_hub lays out its cache."""
    repo = tmp_path / "models--Systran--faster-whisper-tiny"
    snapshot, blobs = repo / "snapshots" / "0123abc", repo / "blobs"
    snapshot.mkdir(parents=True)
    blobs.mkdir()
    for index, blob in enumerate(sorted(small_ctranslate2.iterdir())):
        shutil.copy(blob, blobs / f"hash{index}")
        (snapshot / blob.name).symlink_to(f"../../blobs/hash{index}")
    result = push_model(moto_clients, str(snapshot))

    archive = download_object(moto_clients, result.uri, tmp_path / "model.tar.gz")
    with tarfile.open(archive) as tar:
        members = {member.name: member for member in tar.getmembers()}
        assert all(member.isreg() for member in members.values())
        tar.extractall(tmp_path / "out", filter="data")
    for blob in small_ctranslate2.iterdir():
        assert members[blob.name].size == blob.stat().st_size
        assert (tmp_path / "out" / blob.name).read_bytes() == blob.read_bytes()


def test_only_the_models_files_are_packaged_and_the_rest_is_named(
    moto_clients, small_ctranslate2: Path, tmp_path: Path
) -> None:
    """Every file of the folder was packaged: a .env, notes, and what links to elsewhere
    pointed at (/etc/passwd went into the bucket)."""
    (small_ctranslate2 / ".env").write_text("AWS_SECRET_ACCESS_KEY=x\n")
    (small_ctranslate2 / "passwd").symlink_to("/etc/passwd")
    result = push_model(moto_clients, str(small_ctranslate2))
    assert result.left_out == (".env", "passwd")
    archive = download_object(moto_clients, result.uri, tmp_path / "model.tar.gz")
    with tarfile.open(archive) as tar:
        names = sorted(tar.getnames())
    assert names == sorted(
        ["model.bin", "config.json", "tokenizer.json", "vocabulary.txt", MANIFEST_NAME]
    )


def test_a_pipe_beside_the_model_is_named_as_left_out_and_one_in_a_model_files_place_refused(
    moto_clients, small_ctranslate2: Path
) -> None:
    """A named pipe was left out without a word; one named vocabulary.txt would have been
    left out too, and the model uploaded without its vocabulary."""
    os.mkfifo(small_ctranslate2 / "progress.fifo")
    assert push_model(moto_clients, str(small_ctranslate2)).left_out == ("progress.fifo",)

    (small_ctranslate2 / "tokenizer.json").unlink()
    os.mkfifo(small_ctranslate2 / "tokenizer.json")
    with pytest.raises(UsageError, match=r"tokenizer.json is not a regular file \(a named pipe\)"):
        push_model(moto_clients, str(small_ctranslate2), name="other")
    listed = moto_clients.client("s3").list_objects_v2(Bucket=moto_clients.bucket)
    assert not any("/other-" in o["Key"] for o in listed["Contents"])  # nothing uploaded


@pytest.mark.parametrize("entry", ["model.bin", "config.json", "model.pt", "given"])
def test_a_pipe_or_dangling_link_where_the_weights_go_is_named_not_read_for_ever(
    moto_clients, small_ctranslate2: Path, tmp_path: Path, entry: str
) -> None:
    """A pipe named model.pt made push-model wait for ever; a pipe or dangling link named
    model.bin was "holds config.json, model.bin, ...: expected model.bin plus config.json"."""
    if entry == "given":  # the pipe named as SOURCE itself: "model directory ... does not exist"
        source = tmp_path / "weights.pt"
        os.mkfifo(source)
    else:
        source = small_ctranslate2
        (source / entry).unlink(missing_ok=True)
        if entry == "config.json":
            (source / entry).symlink_to(tmp_path / "nowhere.json")
        else:
            os.mkfifo(source / entry)
    kind = "a link to nothing" if entry == "config.json" else "a named pipe"
    with pytest.raises(UsageError, match=rf"is not a regular file \({kind}\)"):
        push_model(moto_clients, str(source))
    assert moto_clients.client("s3").list_buckets()["Buckets"] == []


def test_a_model_file_linked_out_of_the_folder_is_refused_before_any_upload(
    moto_clients, small_ctranslate2: Path, tmp_path: Path
) -> None:
    """A cloned repo's `preprocessor_config.json -> ~/.aws/credentials` was packaged and
    uploaded, and the endpoint served on without a word."""
    secret = tmp_path / "credentials"
    secret.write_text("[default]\naws_secret_access_key = x\n")
    (small_ctranslate2 / "preprocessor_config.json").symlink_to(secret)
    with pytest.raises(UsageError, match=r"is a link to .*credentials, outside the model folder"):
        push_model(moto_clients, str(small_ctranslate2))
    buckets = moto_clients.client("s3").list_buckets().get("Buckets", [])
    s3 = moto_clients.client("s3")
    assert not [
        o for b in buckets for o in s3.list_objects_v2(Bucket=b["Name"]).get("Contents", [])
    ]


def test_a_config_that_is_not_json_is_refused_before_any_upload(
    moto_clients, small_ctranslate2: Path
) -> None:
    """It uploaded; the endpoint's /ping then failed with the JSON parser's error."""
    for text in ("{{{ not json", '{"a": NaN}'):  # Python reads NaN; CTranslate2 does not
        (small_ctranslate2 / "config.json").write_text(text)
        with pytest.raises(UsageError, match=r"config\.json is not JSON"):
            push_model(moto_clients, str(small_ctranslate2))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("cut", "is cut short"),
        ("zeros", "is not a CTranslate2 model.bin"),
        ("tail", "bytes after its last variable"),
    ],
)
def test_a_model_bin_that_is_not_whole_is_refused_before_any_upload(
    moto_clients, small_ctranslate2: Path, damage: str, message: str
) -> None:
    """A cut, zeroed or padded model.bin was uploaded; deploy failed at the model's load."""
    weights = small_ctranslate2 / "model.bin"
    whole = weights.read_bytes()
    damaged = {
        "cut": whole[: len(whole) // 2],
        "zeros": bytes(len(whole)),
        "tail": whole + b"junk",
    }[damage]
    weights.write_bytes(damaged)
    with pytest.raises(UsageError, match=message):
        push_model(moto_clients, str(small_ctranslate2))
    buckets = moto_clients.client("s3").list_buckets()["Buckets"]
    assert buckets == []  # refused before anything was made or sent


def test_rerun_with_same_weights_skips_the_upload(moto_clients, small_ctranslate2: Path) -> None:
    first = push_model(moto_clients, str(small_ctranslate2))
    second = push_model(moto_clients, str(small_ctranslate2))
    assert second.skipped and second.uri == first.uri
    listing = moto_clients.client("s3").list_objects_v2(Bucket=S3Uri.parse(first.uri).bucket)
    assert listing["KeyCount"] == 1


def test_an_object_without_the_sha256_mark_is_not_taken_as_complete(
    moto_clients, small_ctranslate2: Path
) -> None:
    first = push_model(moto_clients, str(small_ctranslate2))
    uri = S3Uri.parse(first.uri)
    moto_clients.client("s3").put_object(
        Bucket=uri.bucket, Key=uri.key, Body=b"partial"
    )  # no metadata
    again = push_model(moto_clients, str(small_ctranslate2))
    assert not again.skipped
    assert (
        moto_clients.client("s3").head_object(Bucket=uri.bucket, Key=uri.key)["ContentLength"]
        > 1000
    )


def test_pt_checkpoint_becomes_the_openai_engine(moto_clients, tmp_path: Path) -> None:
    checkpoint = tmp_path / "large-v3.pt"
    checkpoint_file(checkpoint, b"weights" * 1000)
    result = push_model(moto_clients, str(checkpoint))
    assert result.engine == "openai" and result.name == "large-v3"
    assert result.sha256 == hashlib.sha256(checkpoint.read_bytes()).hexdigest()


def _recorded_languages(clients: Clients, uri: str) -> str | None:
    s3uri = S3Uri.parse(uri)
    head = clients.client("s3").head_object(Bucket=s3uri.bucket, Key=s3uri.key)
    return head["Metadata"].get("languages")


def test_an_english_only_folder_is_recorded_as_english_and_a_multilingual_one_as_such(
    moto_clients, small_ctranslate2: Path, base_dir: Path, tmp_path: Path
) -> None:
    """tiny.en's vocabulary.txt has 51864 tokens, base's vocabulary.json 51865: transcribe
    reads what deploy copies from here to refuse --language de before sending."""
    multilingual = tmp_path / "base-ct2"
    multilingual.mkdir()
    small_model_bin(multilingual / "model.bin")
    for name in ("config.json", "tokenizer.json", "vocabulary.json"):
        shutil.copyfile(base_dir / name, multilingual / name)

    english = push_model(moto_clients, str(small_ctranslate2))
    other = push_model(moto_clients, str(multilingual))

    assert (english.languages, _recorded_languages(moto_clients, english.uri)) == ("en", "en")
    assert (other.languages, _recorded_languages(moto_clients, other.uri)) == (
        "multilingual",
        "multilingual",
    )


@pytest.mark.parametrize(("n_vocab", "languages"), [(51864, "en"), (51865, "multilingual")])
def test_a_checkpoints_vocabulary_size_tells_its_languages(
    moto_clients, tmp_path: Path, n_vocab: int, languages: str
) -> None:
    checkpoint = checkpoint_file(tmp_path / "model.pt", n_vocab=n_vocab)
    result = push_model(moto_clients, str(checkpoint))
    assert (result.languages, _recorded_languages(moto_clients, result.uri)) == (languages,) * 2


def test_weights_uploaded_before_their_languages_were_recorded_are_uploaded_again_once(
    moto_clients, small_ctranslate2: Path
) -> None:
    """An upload from before: same sha256, no languages in its metadata; skipped, it would
    have left deploy and transcribe without them for good."""
    first = push_model(moto_clients, str(small_ctranslate2))
    uri = S3Uri.parse(first.uri)
    s3 = moto_clients.client("s3")
    older = dict(s3.head_object(Bucket=uri.bucket, Key=uri.key)["Metadata"])
    del older["languages"]
    s3.copy_object(
        Bucket=uri.bucket,
        Key=uri.key,
        CopySource={"Bucket": uri.bucket, "Key": uri.key},
        Metadata=older,
        MetadataDirective="REPLACE",
    )
    again = push_model(moto_clients, str(small_ctranslate2))
    assert not again.skipped and _recorded_languages(moto_clients, again.uri) == "en"
    assert push_model(moto_clients, str(small_ctranslate2)).skipped


def test_a_folder_without_a_vocabulary_records_no_languages(
    moto_clients, small_ctranslate2: Path
) -> None:
    (small_ctranslate2 / "vocabulary.txt").unlink()  # nothing to count the tokens of
    result = push_model(moto_clients, str(small_ctranslate2))
    assert result.languages is None and _recorded_languages(moto_clients, result.uri) is None


def test_a_real_checkpoint_in_either_torch_format_is_accepted(
    moto_clients, tiny_en_pt_dir: Path, tmp_path: Path
) -> None:
    import torch

    current = tiny_en_pt_dir / "tiny.en.pt"
    legacy = tmp_path / "legacy.pt"  # torch.save before PyTorch 1.6: no zip
    loaded = torch.load(current, map_location="cpu")
    torch.save(loaded, legacy, _use_new_zipfile_serialization=False)
    for checkpoint in (current, legacy):
        pushed = push_model(moto_clients, str(checkpoint))
        assert (pushed.engine, pushed.languages) == ("openai", "en")


class Encoded:
    """Pickles as _codecs.encode(inner, 'hex'): a codec torch.save never uses."""

    def __init__(self, inner: object) -> None:
        self.inner = inner

    def __reduce__(self) -> tuple[object, tuple[object, str]]:
        import codecs

        return (codecs.encode, (self.inner, "hex"))


class RunsACommand:
    """A pickle that runs a shell command when loaded unsafely (it must never run)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def legacy_stream(obj: object) -> bytes:
    """torch.save's legacy format up to the object (no tensors): magic, protocol, facts."""
    parts = (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}, obj)
    return b"".join(pickle.dumps(part, protocol=2) for part in parts)


def write_fake(kind: str, path: Path) -> None:
    import torch

    dims = dict.fromkeys(DIMENSIONS, 4)
    tensor = torch.zeros(4)
    weights = dict.fromkeys(REQUIRED_WEIGHTS, tensor)
    marker = path.with_name("ran")
    if kind == "not-torch":
        path.write_bytes(b"weights")
    elif kind == "another-models-checkpoint":
        torch.save({"state_dict": weights}, path)
    elif kind == "no-weights":
        torch.save({"dims": dims}, path)
    elif kind == "names-only":
        torch.save(["dims", "model_state_dict", *DIMENSIONS, *REQUIRED_WEIGHTS], path)
    elif kind == "dims-as-text":
        torch.save({"dims": dict.fromkeys(DIMENSIONS, "4"), "model_state_dict": weights}, path)
    elif kind == "not-whisper-weights":
        torch.save({"dims": dims, "model_state_dict": {"fc.weight": tensor}}, path)
    elif kind == "weights-not-tensors":
        fake = dict.fromkeys(REQUIRED_WEIGHTS, b"x")
        torch.save({"dims": dims, "model_state_dict": fake}, path)
    elif kind == "runs-a-command":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("model/data.pkl", pickle.dumps({"dims": RunsACommand(marker)}))
    elif kind == "tensor-bytes-missing":
        checkpoint_file(path.with_name("whole.pt"))
        with (
            zipfile.ZipFile(path.with_name("whole.pt")) as whole,
            zipfile.ZipFile(path, "w") as cut,
        ):
            for info in whole.infolist():
                if "/data/" not in info.filename:
                    cut.writestr(info, whole.read(info))
    elif kind == "zip-cut-short":
        whole = checkpoint_file(path.with_name("whole.pt")).read_bytes()
        path.write_bytes(whole[: len(whole) // 2])
    elif kind == "legacy-cut-short":
        torch.save(
            {"dims": dims, "model_state_dict": weights}, path, _use_new_zipfile_serialization=False
        )
        path.write_bytes(path.read_bytes()[:-8])
    elif kind == "doubling-codec":  # 'hex' in 'hex' in ...: each level doubles the data
        data: object = "x" * 1024
        for _ in range(24):
            data = Encoded(data)
        torch.save({"dims": dims, "model_state_dict": weights, "extra": data}, path)
    elif kind == "extra-dimension":
        torch.save({"dims": {**dims, "bogus": 1}, "model_state_dict": weights}, path)
    elif kind == "huge-dimension":
        torch.save({"dims": {**dims, "n_mels": 2**31 - 1}, "model_state_dict": weights}, path)
    elif kind == "zip-bad-deflate":
        whole = checkpoint_file(path.with_name("whole.pt"))
        with zipfile.ZipFile(whole) as source, zipfile.ZipFile(path, "w") as target:
            for info in source.infolist():
                target.writestr(info.filename, source.read(info), zipfile.ZIP_DEFLATED)
        raw = bytearray(path.read_bytes())
        start = raw.index(b"data.pkl") + len(b"data.pkl")
        raw[start + 4 : start + 24] = bytes(20)
        path.write_bytes(bytes(raw))
    elif kind.startswith(("hash-bomb", "str-bomb")):  # a tuple of 2**N shared leaves, in bytes
        shared = pickle.EMPTY_TUPLE + (pickle.DUP + pickle.TUPLE2) * 100
        one = pickle.BININT1 + b"\x01"
        # each opcode that hashes what it is given: hashing the tuple never ended
        if kind == "hash-bomb":
            body = pickle.EMPTY_DICT + shared + one + pickle.SETITEM
        elif kind == "hash-bomb-setitems":
            body = pickle.EMPTY_DICT + pickle.MARK + one + one + shared + one + pickle.SETITEMS
        elif kind == "hash-bomb-dict":
            body = pickle.MARK + shared + one + pickle.DICT
        elif kind == "hash-bomb-set":
            body = pickle.EMPTY_SET + pickle.MARK + shared + pickle.ADDITEMS
        elif kind == "hash-bomb-frozenset":
            body = pickle.MARK + shared + pickle.FROZENSET
        else:  # a tensor's storage keyed by it: str() of it took gigabytes
            body = (
                pickle.MARK
                + pickle.BINUNICODE
                + (7).to_bytes(4, "little")
                + b"storage"
                + pickle.GLOBAL
                + b"torch\nFloatStorage\n"
                + shared
                + pickle.BINUNICODE
                + (3).to_bytes(4, "little")
                + b"cpu"
                + pickle.BININT1
                + b"\x01"
                + pickle.TUPLE
                + pickle.BINPERSID
            )
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("archive/data.pkl", pickle.PROTO + b"\x02" + body + pickle.STOP)
    elif kind == "legacy-runs-a-command":
        path.write_bytes(legacy_stream({"dims": RunsACommand(marker)}))
    else:
        raise AssertionError(kind)


@pytest.mark.parametrize(
    ("kind", "why"),
    [
        ("not-torch", "it is not a PyTorch file"),
        ("another-models-checkpoint", "it holds no 'dims' or 'model_state_dict'"),
        ("no-weights", "it holds no 'model_state_dict'"),
        ("names-only", "it holds a list, not a dict"),
        ("dims-as-text", "its 'dims' lacks a positive integer n_mels, n_audio_ctx"),
        ("not-whisper-weights", "holds no encoder.conv1.weight, decoder.token_embedding.weight"),
        ("weights-not-tensors", "its 'model_state_dict' is not a dict of tensors"),
        ("runs-a-command", "its pickle names posix.system, which torch.save never writes"),
        ("tensor-bytes-missing", "the bytes of its tensor 0 are missing"),
        ("zip-cut-short", "it is a zip cut short"),
        ("legacy-cut-short", "the bytes of its tensor"),
        ("legacy-runs-a-command", "its pickle names posix.system"),
        ("doubling-codec", "its pickle encodes data as torch.save never does"),
        ("extra-dimension", "its 'dims' holds bogus, which Whisper lacks"),
        ("huge-dimension", "its 'dims' n_mels is past any Whisper model's"),
        ("zip-bad-deflate", "its zip does not read"),
        ("hash-bomb", "its pickle keys a dict by what torch.save never does"),
        ("hash-bomb-setitems", "its pickle keys a dict by what torch.save never does"),
        ("hash-bomb-dict", "its pickle keys a dict by what torch.save never does"),
        ("hash-bomb-set", "its pickle holds a set, which torch.save never writes"),
        ("hash-bomb-frozenset", "its pickle holds a set, which torch.save never writes"),
        ("str-bomb", "its pickle refers to data torch.save never writes"),
    ],
)
def test_a_pt_file_openai_whisper_cannot_load_is_refused_before_any_upload(
    moto_clients, tmp_path: Path, kind: str, why: str
) -> None:
    """It would have become the next deploy's model, whose load then failed on the endpoint
    (an instance started for nothing). Nothing in the pickle runs."""
    checkpoint = tmp_path / "model.pt"
    write_fake(kind, checkpoint)
    with pytest.raises(UsageError, match="not an openai-whisper checkpoint") as refused:
        push_model(moto_clients, str(checkpoint))
    assert why in refused.value.message
    assert refused.value.message.count("not an openai-whisper checkpoint") == 1
    assert not (tmp_path / "ran").exists()
    s3 = moto_clients.client("s3")
    buckets = [b["Name"] for b in s3.list_buckets().get("Buckets", [])]
    assert not [o for b in buckets for o in s3.list_objects_v2(Bucket=b).get("Contents", [])]


def test_a_state_folder_it_cannot_write_is_refused_before_the_upload(
    moto_clients, tmp_path: Path
) -> None:
    """It uploaded, then ended in "unexpected PermissionError" with no URI printed."""
    clients = Clients(resolve({"state_dir": "/proc/wasync"}))  # in moto_clients' moto
    with pytest.raises(ConfigurationError, match="cannot write wasync's state folder /proc/wasync"):
        push_model(clients, str(checkpoint_file(tmp_path / "tiny.pt")))
    s3 = moto_clients.client("s3")
    buckets = [b["Name"] for b in s3.list_buckets().get("Buckets", [])]
    assert not [o for b in buckets for o in s3.list_objects_v2(Bucket=b).get("Contents", [])]


def test_engine_that_contradicts_the_files_is_refused(moto_clients, tmp_path: Path) -> None:
    checkpoint = tmp_path / "m.pt"
    checkpoint.write_bytes(b"x")
    with pytest.raises(UsageError, match="holds openai weights"):
        push_model(moto_clients, str(checkpoint), engine="faster")


def test_unknown_source_is_a_usage_error_naming_the_known_models(moto_clients) -> None:
    with pytest.raises(UsageError) as info:
        push_model(moto_clients, "huge-v9")
    assert "large-v3" in (info.value.hint or "")


def test_download_verifies_the_sha256_and_refuses_a_mismatch(tmp_path: Path) -> None:
    source = tmp_path / "published.pt"
    source.write_bytes(b"checkpoint bytes")
    good = hashlib.sha256(source.read_bytes()).hexdigest()
    target = download_checkpoint(source.as_uri(), good, tmp_path / "ok.pt", no_progress)
    assert target.read_bytes() == source.read_bytes()
    with pytest.raises(WasyncError, match="Checksum mismatch"):
        download_checkpoint(source.as_uri(), "0" * 64, tmp_path / "bad.pt", no_progress)
    assert not (tmp_path / "bad.pt").exists()


def test_unreachable_download_suggests_a_local_path(tmp_path: Path) -> None:
    with pytest.raises(WasyncError) as info:
        download_checkpoint(
            (tmp_path / "missing.pt").as_uri(), "0" * 64, tmp_path / "x.pt", no_progress
        )
    assert "local path" in (info.value.hint or "")


def test_a_model_name_means_the_published_model_and_a_path_the_folder(
    moto_clients, small_ctranslate2: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    shutil.copytree(small_ctranslate2, work / "tiny")
    monkeypatch.chdir(work)

    by_name = choose_source("tiny")
    assert by_name.path is None and by_name.shadowed == Path("tiny")
    assert "published model 'tiny'" in by_name.description
    assert "pass ./tiny" in by_name.description

    result = push_model(moto_clients, "./tiny")
    assert (result.engine, result.name) == ("faster", "tiny")
    assert result.source == "local folder tiny"


def test_a_folder_of_anything_but_weights_is_refused_in_one_short_line(tmp_path: Path) -> None:
    """`wasync push-model ~/Downloads`: the error names a few of the files, not all of them."""
    from whisper_async.manifest import ModelLayoutError, detect_layout

    for n in range(300):
        (tmp_path / f"notes-{n:03d}.txt").write_text("x")
    with pytest.raises(ModelLayoutError) as refused:
        detect_layout(tmp_path)
    message = str(refused.value)
    assert "notes-000.txt" in message and "and 295 more" in message
    assert "notes-299.txt" not in message and len(message) < 300
    assert "expected one *.pt checkpoint" in message


def test_a_manifest_without_a_field_names_the_field(tmp_path: Path) -> None:
    """It said only `not a valid wasync manifest: 'name'`."""
    from whisper_async.manifest import ModelLayoutError

    (tmp_path / MANIFEST_NAME).write_text('{"engine": "faster", "sha256": "x"}')
    with pytest.raises(ModelLayoutError, match="it lacks 'name'; `wasync push-model` writes"):
        read_manifest(tmp_path)
