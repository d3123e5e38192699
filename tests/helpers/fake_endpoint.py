"""A batch against moto's S3 and a fake async endpoint, for fast functional tests.

The fake stands in for SageMaker's InvokeEndpointAsync only: it answers as SageMaker does,
counts every request it accepts, and writes each job's result (the input's bytes, echoed)
into S3 at once or when the test releases it. Throttling can be switched on.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from whisper_async.jobs.batch import Batch, BatchEnv
from whisper_async.jobs.listing import ListingCompletions, s3_lister
from whisper_async.jobs.outcomes import JobOutcome
from whisper_async.jobs.ownership import Heartbeats
from whisper_async.jobs.records import RecordStore
from whisper_async.jobs.request import TranscribeRequest
from whisper_async.jobs.target import EndpointTarget
from whisper_async.storage import S3Uri

PREFIX = "wasync/"


def target(bucket: str) -> EndpointTarget:
    return EndpointTarget(
        name="whisper",
        identity="whisper@test",
        output_path=f"s3://{bucket}/{PREFIX}outputs/whisper/",
        failure_path=f"s3://{bucket}/{PREFIX}failures/whisper/",
        parallelism=1,
    )


def ctrl_c() -> None:
    """A real SIGINT, as the terminal sends it: Python raises KeyboardInterrupt in the main
    thread, wherever it is."""
    os.kill(os.getpid(), signal.SIGINT)


@dataclass
class FakeEndpoint:
    s3: Any
    target: EndpointTarget
    hold: bool = False  # keep jobs queued until release()
    throttle_every: int = 0  # every n-th request is throttled
    fail_inputs: tuple[bytes, ...] = ()
    errors: list[tuple[int, str]] = field(default_factory=list)  # (status, code) to answer next
    on_invoke: Callable[[int], None] = lambda accepted: None
    on_throttle: Callable[[], None] = lambda: None  # called as a request is refused
    accepted: list[str] = field(default_factory=list)  # job ids, in order
    attempts: int = 0
    held: list[tuple[dict[str, Any], str, str | None]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def invoke_endpoint_async(self, **params: Any) -> dict[str, Any]:
        with self._lock:
            self.attempts += 1
            if self.errors:
                status, code = self.errors.pop(0)
                raise ClientError(
                    {
                        "Error": {"Code": code, "Message": f"{code} from the fake"},
                        "ResponseMetadata": {"HTTPStatusCode": status},
                    },
                    "InvokeEndpointAsync",
                )
            if self.throttle_every and self.attempts % self.throttle_every == 0:
                self.on_throttle()
                raise ClientError(
                    {
                        "Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"},
                        "ResponseMetadata": {"HTTPStatusCode": 400},
                    },
                    "InvokeEndpointAsync",
                )
            self.accepted.append(params["InferenceId"].split("-")[0])
            count = len(self.accepted)
        output, failure = self.target.locations(params["S3OutputPathExtension"], params["Filename"])
        if self.hold:
            with self._lock:
                self.held.append((params, output, failure))
        else:
            self._finish(params, output, failure)
        self.on_invoke(count)
        return {
            "InferenceId": params["InferenceId"],
            "OutputLocation": output,
            "FailureLocation": failure,
        }

    def release(self) -> None:
        with self._lock:
            held, self.held = self.held, []
        for job in held:
            self._finish(*job)

    def _finish(self, params: dict[str, Any], output: str, failure: str | None) -> None:
        body = params.get("Body")
        if body is None:
            source = S3Uri.parse(params["InputLocation"])
            body = self.s3.get_object(Bucket=source.bucket, Key=source.key)["Body"].read()
        if body in self.fail_inputs and failure:
            uri, data = S3Uri.parse(failure), json.dumps({"message": "cannot decode the audio"})
        else:
            text = f" heard {body[:40].decode(errors='replace')}"
            document = {
                "text": text.strip(),
                "segments": [{"id": 0, "start": 0.0, "end": 1.0, "text": text}],
            }
            uri, data = S3Uri.parse(output), json.dumps(document)
        self.s3.put_object(Bucket=uri.bucket, Key=uri.key, Body=data.encode())

    def invocations(self) -> Counter[str]:
        return Counter(self.accepted)


class NeverIdle:
    def __init__(self) -> None:
        self.idle = False

    def idle_since(self, since: Any) -> bool:
        return self.idle


def environment(s3: Any, bucket: str, endpoint: FakeEndpoint, idle: Any = None) -> BatchEnv:
    return BatchEnv(
        s3=s3,
        runtime=endpoint,
        bucket=bucket,
        prefix=PREFIX,
        target=endpoint.target,
        records=RecordStore(s3, bucket, PREFIX),
        heartbeats=Heartbeats(s3, bucket, PREFIX),
        idle=idle or NeverIdle(),
        source=ListingCompletions(s3_lister(s3)),
        workers=4,
    )


def write_inputs(folder: Path, count: int, size: int = 0) -> list[Path]:
    """Small distinct 'audio' files (the fake endpoint echoes their bytes); `size` pads them
    past the inline limit so they are uploaded."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(count):
        path = folder / f"clip{n:04d}.wav"
        path.write_bytes(f"audio-{n:04d}".encode().ljust(size, b"."))
        paths.append(path)
    return paths


def run(
    env: BatchEnv, inputs: list[Any], out: Path, **options: Any
) -> tuple[Batch, Any, list[JobOutcome]]:
    outcomes: list[JobOutcome] = []
    request = TranscribeRequest(options={}, output_dir=out, **options)
    batch = Batch(env, request, outcomes.append)
    report = batch.run(inputs)
    return batch, report, outcomes
