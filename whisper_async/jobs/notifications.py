"""Wait on SageMaker's SNS notifications through an SQS queue instead of listing S3.

The queue must be subscribed to the endpoint's success and error topics (`deploy --notify`
creates them). Messages for jobs this process does not wait for are handed back at once for
their owners. The receiver never dies silently: a failed receive, delete or hand-back is
logged and retried, and the S3 listing still runs every `fallback_seconds`, so a lost or
undeletable notification delays a job at most that long and never loses it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import UsageError
from ..untrusted import parsed_json
from .codes import aws_code
from .listing import ListingCompletions
from .tracker import JobState, Watch

log = logging.getLogger("wasync.notifications")
MISSING_QUEUE = {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}
HIDDEN_SECONDS = 5  # a message is deleted or handed back as soon as it is read


def check_queue(sqs: Any, queue_url: str) -> None:
    """Refuse a queue that does not exist before anything is submitted."""
    try:
        sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    except Exception as exc:
        if aws_code(exc) in MISSING_QUEUE or "does not exist" in str(exc).lower():
            raise UsageError(
                f"The SQS queue {queue_url} does not exist.",
                "pass the URL of a queue subscribed to the endpoint's topics "
                "(`aws sqs list-queues`), or drop --notify-queue to list S3 instead",
            ) from None
        raise


def parse(body: str) -> dict[str, Any] | None:
    """The notification inside an SNS envelope (or a raw-delivery message)."""
    data = parsed_json(body)
    if (
        isinstance(data, dict)
        and "inferenceId" not in data
        and isinstance(data.get("Message"), str)
    ):
        data = parsed_json(data["Message"])
    return data if isinstance(data, dict) and "inferenceId" in data else None


class QueueCompletions:
    """A CompletionSource fed by SQS, with the S3 listing as a slow safety net."""

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        listing: ListingCompletions,
        clock: Callable[[], float] = time.monotonic,
        fallback_seconds: float = 30.0,
        wait_seconds: int = 10,
    ) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.listing = listing
        self.clock = clock
        self.fallback_seconds = fallback_seconds
        self.wait_seconds = wait_seconds
        self.wake = listing.wake
        self.failures = 0  # receive/delete/hand-back calls that failed, for the report
        self._expected: set[str] = set()
        self._arrived: dict[str, JobState] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._last_listing = clock()
        self._unlisted_adopted = False
        self._thread: threading.Thread | None = None

    def expect(self, watch: Watch) -> None:
        with self._lock:
            self._expected.add(watch.inference_id)
            # A job another run started may have ended before anyone listened: list soon.
            self._unlisted_adopted = self._unlisted_adopted or watch.adopted
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._receive, name="sqs-notifications", daemon=True
                )
                self._thread.start()

    def stop(self) -> None:
        self._stopped.set()

    def poll(self, watches: Sequence[Watch]) -> list[tuple[Watch, JobState]]:
        found: list[tuple[Watch, JobState]] = []
        waiting: list[Watch] = []
        with self._lock:
            for watch in watches:
                state = self._arrived.pop(watch.inference_id, None)
                if state is None:
                    waiting.append(watch)
                else:
                    self._expected.discard(watch.inference_id)
                    found.append((watch, state))
        receiver_alive = self._thread is not None and self._thread.is_alive()
        due = self.clock() - self._last_listing >= self.fallback_seconds
        if waiting and (due or not receiver_alive or self._unlisted_adopted):
            self._last_listing = self.clock()
            self._unlisted_adopted = False
            found += self.listing.poll(waiting)
        return found

    def receive_batch(self) -> list[dict[str, Any]]:
        """One long poll. What it takes is hidden for HIDDEN_SECONDS only, not the queue's
        default (30 s): a run that exits mid-poll has SQS hand its poll's messages to nobody,
        and the next run, waiting on the same queue, would wait that long for them."""
        response = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=self.wait_seconds,
            VisibilityTimeout=HIDDEN_SECONDS,
        )
        return list(response.get("Messages", []))

    def _receive(self) -> None:
        while not self._stopped.is_set():
            try:
                for message in self.receive_batch():
                    self._handle(message)
            except Exception as exc:
                if self._stopped.is_set():
                    return
                self.failures += 1
                log.warning("receiving notifications from %s failed: %s", self.queue_url, exc)
                self._stopped.wait(1.0)

    def _handle(self, message: dict[str, Any]) -> None:
        note = parse(message.get("Body", ""))
        inference_id = str(note.get("inferenceId")) if note else None
        with self._lock:
            ours = inference_id in self._expected
            if ours and note is not None and inference_id is not None:
                failed = note.get("invocationStatus") == "Failed"
                self._arrived[inference_id] = JobState.FAILED if failed else JobState.DONE
        if ours:
            self.wake.set()
        try:
            if ours:
                self.sqs.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
            else:  # another client's job: hand it back at once
                self.sqs.change_message_visibility(
                    QueueUrl=self.queue_url,
                    ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=0,
                )
        except Exception as exc:
            # An undeleted message comes back after its visibility timeout; by then the job
            # is no longer expected, and it is handed back for whoever wants it.
            self.failures += 1
            log.warning("could not settle an SQS message on %s: %s", self.queue_url, exc)
