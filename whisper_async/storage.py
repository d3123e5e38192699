"""S3 helpers: URIs, the default bucket, existence checks and uploads with progress."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from . import aws
from .clients import Clients
from .errors import AwsError, ConfigurationError, NotFoundError, UsageError
from .plan import Plan, Step, execute
from .progress import ProgressFactory, no_progress

PART_SIZE = 16 * 1024 * 1024


def transfer_config() -> Any:
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(
        multipart_threshold=PART_SIZE, multipart_chunksize=PART_SIZE, max_concurrency=8
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


# Parts of an interrupted multipart upload are billed until aborted; a client killed mid-upload
# leaves them behind. The rule covers wasync's prefix only: the default bucket
# (sagemaker-{region}-{account}) is shared with the SageMaker SDK and other tools.
ABORT_INCOMPLETE_UPLOADS_AFTER_DAYS = 1
LIFECYCLE_RULE_ID = "wasync-abort-incomplete-multipart-uploads"


def lifecycle_rule(prefix: str) -> dict[str, Any]:
    return {
        "ID": LIFECYCLE_RULE_ID,
        "Status": "Enabled",
        "Filter": {"Prefix": prefix},
        "AbortIncompleteMultipartUpload": {
            "DaysAfterInitiation": ABORT_INCOMPLETE_UPLOADS_AFTER_DAYS
        },
    }


def _owned(clients: Clients) -> dict[str, Any]:
    """HeadBucket's parameters. The default name, sagemaker-{region}-{account}, can be guessed
    and created first by another account that grants this one access; audio, transcripts and
    models would then go to that account. So a default bucket must be this account's own, as
    the SageMaker SDK checks too. A bucket the user names may be another account's on purpose."""
    if clients.settings.bucket:
        return {"Bucket": clients.bucket}
    return {"Bucket": clients.bucket, "ExpectedBucketOwner": clients.account_id}


def bucket_exists(clients: Clients) -> bool:
    try:
        return aws.find(clients.client("s3").head_bucket, **_owned(clients)) is not None
    except AwsError as error:
        if clients.settings.bucket or error.code not in {"403", "AccessDenied"}:
            raise
        raise ConfigurationError(
            f"the default bucket {clients.bucket} exists, but account {clients.account_id} does "
            "not own it (or may not read it: s3:ListBucket); wasync will not send audio or "
            "models to a bucket another account owns",
            "name a bucket your account owns with --bucket (or `bucket = ...` in the config "
            "file), or grant s3:ListBucket on the bucket if it is yours",
        ) from None


def bucket_plan(clients: Clients) -> Plan:
    """The steps that create wasync's bucket (private, with the lifecycle rule); none when it
    exists. A bucket users bring keeps its own settings."""
    bucket = clients.bucket
    if bucket_exists(clients):
        return Plan()
    params: dict[str, Any] = {"Bucket": bucket}
    if clients.region != "us-east-1":
        params["CreateBucketConfiguration"] = {"LocationConstraint": clients.region}
    return Plan(
        (
            Step("s3", "create_bucket", params, f"create bucket {bucket}"),
            Step(
                "s3",
                "put_public_access_block",
                {
                    "Bucket": bucket,
                    "PublicAccessBlockConfiguration": {
                        "BlockPublicAcls": True,
                        "IgnorePublicAcls": True,
                        "BlockPublicPolicy": True,
                        "RestrictPublicBuckets": True,
                    },
                },
                f"block public access to {bucket}",
            ),
            Step(
                "s3",
                "put_bucket_lifecycle_configuration",
                {
                    "Bucket": bucket,
                    "LifecycleConfiguration": {"Rules": [lifecycle_rule(clients.prefix)]},
                },
                f"abort incomplete uploads under s3://{bucket}/{clients.prefix} after "
                f"{ABORT_INCOMPLETE_UPLOADS_AFTER_DAYS} day",
            ),
        )
    )


def ensure_bucket(clients: Clients) -> str:
    """The wasync bucket, created if missing (as the SageMaker SDK does for its default)."""
    execute(clients, bucket_plan(clients))
    return clients.bucket


def head(clients: Clients, uri: S3Uri) -> dict[str, Any] | None:
    """HeadObject, or None when the object does not exist."""
    found = aws.find(clients.client("s3").head_object, Bucket=uri.bucket, Key=uri.key)
    return None if found is None else dict(found)


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
        str(path), uri.bucket, uri.key, ExtraArgs=extra, Callback=advance, Config=transfer_config()
    )


def list_keys(s3: Any, bucket: str, prefix: str) -> Iterator[str]:
    """Every key under `prefix`, one page of ListObjectsV2 at a time (its order: by key)."""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    try:
        for page in pages:
            for found in page.get("Contents", []):
                yield found["Key"]
    except Exception as exc:
        translated = aws.translate(exc, "s3")
        if isinstance(translated, NotFoundError) and translated.code == "NoSuchBucket":
            raise NotFoundError(
                f"The bucket {bucket} does not exist.",
                f"check the name in s3://{bucket}/{prefix} and the region",
            ) from None
        raise


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
