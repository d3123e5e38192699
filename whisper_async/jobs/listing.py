"""Finished jobs seen by listing S3: one ListObjectsV2 per tick per prefix, for all jobs.

S3 listing is strongly consistent, so a result that exists is listed. Jobs of a batch write
under the batch's own prefix (`S3OutputPathExtension`), with file names that begin with their
submission number, so each listing starts at the earliest job still pending (`StartAfter`) and
stays within the pending jobs' common prefix: it reads roughly the keys of the jobs that
finished since the last tick, not the whole batch.
"""

from __future__ import annotations

import os
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ..storage import S3Uri
from .tracker import JobState, Watch

Lister = Callable[[str, str, str], Iterator[str]]  # (bucket, prefix, start_after) -> keys


def s3_lister(s3: Any) -> Lister:
    def keys(bucket: str, prefix: str, start_after: str) -> Iterator[str]:
        params: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
        if start_after > prefix:
            params["StartAfter"] = start_after
        while True:
            page = s3.list_objects_v2(**params)
            for entry in page.get("Contents", []):
                yield entry["Key"]
            if not page.get("IsTruncated"):
                return
            params["ContinuationToken"] = page["NextContinuationToken"]

    return keys


def listing_window(keys: Sequence[str]) -> tuple[str, str]:
    """(Prefix, StartAfter) that covers every key given and as little else as possible."""
    prefix = os.path.commonprefix(list(keys))  # noqa: RUF071 - a string prefix is what S3 takes
    return prefix, min(keys)[:-1]


class ListingCompletions:
    """The CompletionSource of a plain `--wait`."""

    def __init__(self, lister: Lister) -> None:
        self.lister = lister
        self.wake = threading.Event()
        self.lists = 0

    def expect(self, watch: Watch) -> None:
        pass

    def poll(self, watches: Sequence[Watch]) -> list[tuple[Watch, JobState]]:
        expected: dict[tuple[str, str], tuple[Watch, JobState]] = {}
        groups: dict[tuple[str, str], list[str]] = defaultdict(list)
        for watch in watches:
            for uri, state in ((watch.output, JobState.DONE), (watch.failure, JobState.FAILED)):
                if uri is None:
                    continue
                expected[(uri.bucket, uri.key)] = (watch, state)
                groups[(uri.bucket, uri.key.rsplit("/", 1)[0] + "/")].append(uri.key)
        found: dict[Watch, JobState] = {}
        for (bucket, _), keys in groups.items():
            prefix, start_after = listing_window(keys)
            self.lists += 1
            for key in self.lister(bucket, prefix, start_after):
                hit = expected.get((bucket, key))
                # A failure object wins over a result: SageMaker writes one or the other.
                if hit is not None and found.get(hit[0]) is not JobState.FAILED:
                    found[hit[0]] = hit[1]
        return list(found.items())


def output_keys(watch: Watch) -> list[S3Uri]:
    return [uri for uri in (watch.output, watch.failure) if uri is not None]
