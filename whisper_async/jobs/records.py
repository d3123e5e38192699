"""Job records: one small JSON object per job in S3, and the claim that makes a batch
resumable and idempotent.

A job's id is a digest of what decides its result: the input's content, the request options
and the endpoint (its name, model and deployment defaults). The record lives at
`{prefix}jobs/{job_id}.json`. It is created with `IfNoneMatch='*'` *before* the endpoint is
invoked, so of two processes running the same batch exactly one wins each job; the other, and
any later re-run, finds the record and waits for that job's result instead of invoking again.
The record also says where the result and the failure will land, so `fetch ID` works from any
machine.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import socket
from collections.abc import Mapping
from dataclasses import MISSING as MISSING_FIELD
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from ..attributes import canonical_options
from ..errors import WasyncError, quoted
from ..formats import FORMATS
from ..storage import S3Uri
from .codes import CONFLICT, MISSING, aws_code

RECORD_VERSION = 2
MAX_RECORD_BYTES = 64 * 1024  # a record is under 2 KB; anything far larger was not written by us
JOB_ID_LENGTH = 24  # hex digits (96 bits); with a 7-digit sequence it fills Filename's 32
CONFLICT_CODES = CONFLICT
MISSING_CODES = MISSING


def job_id_for(endpoint_identity: str, options: Mapping[str, Any], content: str) -> str:
    """The same input, options and endpoint always give the same id (output format is not
    part of it: the server returns JSON and the client converts)."""
    canonical = json.dumps(
        {"content": content, "endpoint": endpoint_identity, "options": canonical_options(options)},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:JOB_ID_LENGTH]


@dataclass(frozen=True)
class Owner:
    """Which process claimed a job: a re-run uses it to tell a live run from a dead one."""

    batch: str
    host: str
    pid: int

    @classmethod
    def this_process(cls, batch: str) -> Owner:
        return cls(batch, socket.gethostname(), os.getpid())


@dataclass(frozen=True)
class JobRecord:
    job_id: str
    inference_id: str
    endpoint: str
    source: str
    output_location: str
    failure_location: str
    input_location: str | None = None
    input_sha256: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    format: str = "txt"
    batch: str = ""
    host: str = ""
    pid: int = 0
    submitted_at: str = ""
    request_ttl: int = 21600
    invocation_timeout: int = 3600
    version: int = RECORD_VERSION

    @property
    def owner(self) -> Owner:
        return Owner(self.batch, self.host, self.pid)

    @property
    def submitted(self) -> dt.datetime | None:
        try:
            return dt.datetime.fromisoformat(self.submitted_at)
        except ValueError:
            return None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> JobRecord:
        """Also reads version 1 records, which were keyed by their inference id. Anyone who may
        write under jobs/ may write anything there, so every field is checked: a record of the
        wrong shape is refused whole (ValueError) instead of reaching a listing, a file name
        or `--json` output."""
        try:
            data = json.loads(text)
        except RecursionError:  # [[[...]]] 30,000 deep fits in 64 KiB
            raise ValueError("it is nested too deeply") from None
        if not isinstance(data, dict) or "output_location" not in data:
            raise ValueError("not a wasync job record")
        data.setdefault("job_id", data.get("inference_id"))
        known = {f.name: f for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known and v is not None}
        for name, value in values.items():
            expected = _FIELD_TYPES[name]
            if not isinstance(value, expected) or isinstance(value, bool):
                raise ValueError(f"its {name} is {type(value).__name__}, not {expected.__name__}")
        missing = [f.name for f in known.values() if f.name not in values and _required(f)]
        if missing:
            raise ValueError(f"it has no {', '.join(missing)}")
        for name in ("output_location", "failure_location", "input_location"):
            if values.get(name) and not values[name].startswith("s3://"):
                raise ValueError(f"its {name} {quoted(values[name])} is not an s3:// URI")
        if not _JOB_ID.fullmatch(values["job_id"]):
            raise ValueError(f"its job_id {quoted(values['job_id'])} is not a job id")
        for name in ("pid", "request_ttl", "invocation_timeout", "version"):
            if name in values and not 0 <= values[name] <= _LARGEST_NUMBER:
                raise ValueError(f"its {name} {values[name]} is out of range")
        if values.get("submitted_at") and _aware_time(values["submitted_at"]) is None:
            raise ValueError(
                f"its submitted_at {quoted(values['submitted_at'])} is not a time with its zone"
            )
        if values.get("format", "txt") not in FORMATS:
            raise ValueError(
                f"its format {quoted(values['format'])} is not one of {', '.join(FORMATS)}"
            )
        return cls(**values)


_LARGEST_NUMBER = 2**31 - 1  # a pid, or seconds: larger ones overflowed os.kill and datetime


def _aware_time(text: str) -> dt.datetime | None:
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _required(spec: Any) -> bool:
    return spec.default is MISSING_FIELD and spec.default_factory is MISSING_FIELD


_FIELD_TYPES: dict[str, type] = {
    "pid": int,
    "request_ttl": int,
    "invocation_timeout": int,
    "version": int,
    "options": dict,
}
_FIELD_TYPES.update({f.name: str for f in fields(JobRecord) if f.name not in _FIELD_TYPES})
# A job id is hex (version 1 records used the inference id, a UUID); it names files and keys.
_JOB_ID = re.compile(r"(?!\.{1,2}$)[A-Za-z0-9_.-]{1,128}")


@dataclass(frozen=True)
class Stored:
    """A record as read from S3, with the ETag that a takeover must match."""

    record: JobRecord
    etag: str


class RecordStore:
    """The job records of one bucket and prefix."""

    def __init__(self, s3: Any, bucket: str, prefix: str) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.prefix = prefix

    def uri(self, job_id: str) -> S3Uri:
        return S3Uri(self.bucket, f"{self.prefix}jobs/{job_id}.json")

    def _put(self, record: JobRecord, **condition: str) -> str | None:
        """PUT the record; its ETag, or None when the condition did not hold."""
        uri = self.uri(record.job_id)
        try:
            response = self.s3.put_object(
                Bucket=uri.bucket,
                Key=uri.key,
                Body=record.to_json().encode(),
                ContentType="application/json",
                **condition,
            )
        except Exception as exc:
            if aws_code(exc) in CONFLICT_CODES:
                return None
            raise
        return str(response.get("ETag", ""))

    def claim(self, record: JobRecord) -> str | None:
        """Create the record unless it exists: the ETag if this process won the job."""
        return self._put(record, IfNoneMatch="*")

    def take_over(self, record: JobRecord, etag: str) -> str | None:
        """Replace a record only if nobody changed it since it was read as `etag`."""
        return self._put(record, IfMatch=etag)

    def overwrite(self, record: JobRecord) -> str:
        """`--rerun`: a new attempt replaces the record, whoever held it."""
        return self._put(record) or ""

    def read(self, job_id: str) -> Stored | None:
        response = get_object_or_none(self.s3, self.uri(job_id))
        if response is None:
            return None
        try:
            body = response["Body"].read(MAX_RECORD_BYTES + 1)
            if len(body) > MAX_RECORD_BYTES:
                raise ValueError(f"it is over {MAX_RECORD_BYTES:,} bytes")
            record = JobRecord.from_json(body)
        except (ValueError, TypeError) as exc:  # JSON that is not a record: changed by hand
            raise WasyncError(
                f"{self.uri(job_id)} is not a job record wasync can read: {exc}",
                "it was changed outside wasync; `transcribe --rerun` on its input replaces it",
            ) from None
        return Stored(record, str(response.get("ETag", "")))

    def ids_starting(self, start: str, most: int = 2) -> list[str]:
        """Up to `most` job ids that begin with `start` (for a shortened id, as git takes)."""
        listed = self.s3.list_objects_v2(
            Bucket=self.bucket, Prefix=f"{self.prefix}jobs/{start}", MaxKeys=most
        )
        names = (item["Key"].rsplit("/", 1)[-1] for item in listed.get("Contents", []))
        return [name.removesuffix(".json") for name in names if name.endswith(".json")]

    def exists(self, job_id: str) -> bool:
        uri = self.uri(job_id)
        try:
            self.s3.head_object(Bucket=uri.bucket, Key=uri.key)
        except Exception as exc:
            if aws_code(exc) in MISSING_CODES:
                return False
            raise
        return True

    def release(self, job_id: str, etag: str) -> None:
        """Delete a claim this process made and never acted on, so a re-run invokes it."""
        uri = self.uri(job_id)
        try:
            self.s3.delete_object(Bucket=uri.bucket, Key=uri.key, IfMatch=etag)
        except Exception as exc:
            if aws_code(exc) not in CONFLICT_CODES | MISSING_CODES:
                raise


def with_locations(record: JobRecord, output: str, failure: str) -> JobRecord:
    return replace(record, output_location=output, failure_location=failure)


def get_object_or_none(s3: Any, uri: S3Uri) -> dict[str, Any] | None:
    """GetObject's response, or None when there is no such object."""
    try:
        response: dict[str, Any] = s3.get_object(Bucket=uri.bucket, Key=uri.key)
    except Exception as exc:
        if aws_code(exc) in MISSING_CODES:
            return None
        raise
    return response


BATCH_ID = re.compile(r"^(\d{4})(\d{2})(\d{2})-\d{6}-[0-9a-f]{6}$", re.ASCII)


def run_extension(batch_id: str) -> str | None:
    """A batch's S3OutputPathExtension, `YYYY/MM/DD/{batch}`, from the date its id begins with,
    so that an inference id (`{job}-{batch}`) names where its run's result is."""
    match = BATCH_ID.fullmatch(batch_id)
    return f"{'/'.join(match.groups())}/{batch_id}" if match else None
