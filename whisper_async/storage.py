"""S3 helpers: URIs, the default bucket, existence checks and uploads with progress."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from boto3.s3.transfer import TransferConfig

from .clients import Clients
from .errors import UsageError, error_code
from .progress import ProgressFactory, no_progress

TRANSFER_CONFIG = TransferConfig(
    multipart_threshold=16 * 1024 * 1024, multipart_chunksize=16 * 1024 * 1024, max_concurrency=8
)


@dataclass(frozen=True)
class S3Uri:
    bucket: str
    key: str

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @classmethod
    def parse(cls, uri: str) -> S3Uri:
        if not uri.startswith("s3://"):
            raise UsageError(f"{uri!r} is not an S3 URI", "use the form s3://bucket/key")
        bucket, _, key = uri[5:].partition("/")
        if not bucket or not key:
            raise UsageError(f"{uri!r} lacks a bucket or a key", "use the form s3://bucket/key")
        return cls(bucket, key)


def ensure_bucket(clients: Clients) -> str:
    """The wasync bucket, created if missing (as the SageMaker SDK does for its default)."""
    s3 = clients.client("s3")
    bucket = clients.bucket
    try:
        s3.head_bucket(Bucket=bucket)
        return bucket
    except Exception as exc:
        if error_code(exc) not in {"404", "NoSuchBucket", "NotFound"}:
            raise
    params: dict[str, Any] = {"Bucket": bucket}
    if clients.region != "us-east-1":
        params["CreateBucketConfiguration"] = {"LocationConstraint": clients.region}
    s3.create_bucket(**params)
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    return bucket


def head(clients: Clients, uri: S3Uri) -> dict[str, Any] | None:
    """HeadObject, or None when the object does not exist."""
    try:
        return dict(clients.client("s3").head_object(Bucket=uri.bucket, Key=uri.key))
    except Exception as exc:
        if error_code(exc) in {"404", "NoSuchKey", "NotFound"}:
            return None
        raise


def upload(
    clients: Clients,
    path: Path,
    uri: S3Uri,
    content_type: str | None = None,
    metadata: Mapping[str, str] | None = None,
    progress: ProgressFactory = no_progress,
) -> None:
    """Upload a file; multipart above 16 MiB. An object appears only once complete."""
    extra: dict[str, Any] = {}
    if content_type:
        extra["ContentType"] = content_type
    if metadata:
        extra["Metadata"] = dict(metadata)
    advance = progress(f"upload {path.name}", path.stat().st_size)
    clients.client("s3").upload_file(
        str(path), uri.bucket, uri.key, ExtraArgs=extra, Callback=advance, Config=TRANSFER_CONFIG
    )


def read_bytes(clients: Clients, uri: S3Uri) -> bytes:
    body: BinaryIO = clients.client("s3").get_object(Bucket=uri.bucket, Key=uri.key)["Body"]
    return body.read()


def sha256_file(path: Path, advance: Any = None) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            if advance:
                advance(len(chunk))
    return digest.hexdigest()
