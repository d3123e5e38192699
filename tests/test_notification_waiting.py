"""Waiting on SQS notifications: the receiver survives failing calls, Ctrl-C does not wait for
the long poll, and the S3 listing still finds what the queue never told."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError

from whisper_async.jobs.listing import ListingCompletions
from whisper_async.jobs.notifications import QueueCompletions
from whisper_async.jobs.tracker import JobState, JobTracker, Watch
from whisper_async.storage import S3Uri


def note(inference_id: str, status: str = "Completed") -> dict[str, Any]:
    body = {"inferenceId": inference_id, "invocationStatus": status}
    return {"Body": json.dumps({"Message": json.dumps(body)}), "ReceiptHandle": inference_id}


def error(operation: str) -> ClientError:
    return ClientError({"Error": {"Code": "InternalError", "Message": "boom"}}, operation)


class FakeQueue:
    """receive_message hands out what was sent, long-polling until there is some."""

    def __init__(self, failing: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.messages: list[dict[str, Any]] = []
        self.failing = failing
        self.handed_back: list[str] = []
        self.deleted: list[str] = []
        self.receives = 0
        self._arrived = threading.Condition()

    def send(self, message: dict[str, Any]) -> None:
        with self._arrived:
            self.messages.append(message)
            self._arrived.notify_all()

    def receive_message(self, **params: Any) -> dict[str, Any]:
        self.receives += 1
        if "receive" in self.failing and self.receives % 2:
            raise error("ReceiveMessage")
        with self._arrived:
            self._arrived.wait_for(lambda: self.messages, timeout=params["WaitTimeSeconds"])
            taken, self.messages = self.messages, []
        return {"Messages": taken}

    def delete_message(self, **params: Any) -> None:
        if "delete" in self.failing:
            raise error("DeleteMessage")
        self.deleted.append(params["ReceiptHandle"])

    def change_message_visibility(self, **params: Any) -> None:
        self.handed_back.append(params["ReceiptHandle"])


def watch(name: str) -> Watch:
    return Watch(name, f"{name}-run", S3Uri("b", f"out/{name}.out"), None, deadline=1e12)


def nothing_listed(bucket: str, prefix: str, start_after: str) -> Iterator[str]:
    return iter(())


def wait_for(condition: Any) -> None:
    event = threading.Event()
    while not condition():
        event.wait(0.01)


def test_a_failing_delete_neither_kills_the_receiver_nor_loses_later_notifications() -> None:
    queue = FakeQueue(failing={"delete"})
    source = QueueCompletions(queue, "q", ListingCompletions(nothing_listed), wait_seconds=1)
    first, second = watch("a"), watch("b")
    source.expect(first)
    source.expect(second)
    queue.send(note("a-run"))
    queue.send(note("someone-else"))
    wait_for(lambda: source.failures >= 1)
    queue.send(note("b-run", "Failed"))
    wait_for(lambda: source.failures >= 2)
    found = dict(source.poll([first, second]))
    assert found == {first: JobState.DONE, second: JobState.FAILED}
    assert queue.handed_back == ["someone-else"]
    assert source._thread is not None and source._thread.is_alive()
    source.stop()


def test_failing_receives_are_retried() -> None:
    queue = FakeQueue(failing={"receive"})
    source = QueueCompletions(queue, "q", ListingCompletions(nothing_listed), wait_seconds=1)
    job = watch("a")
    source.expect(job)
    queue.send(note("a-run"))
    wait_for(lambda: queue.deleted)
    assert dict(source.poll([job])) == {job: JobState.DONE} and source.failures >= 1
    source.stop()


def test_ctrl_c_stops_the_wait_without_waiting_for_the_long_poll() -> None:
    queue = FakeQueue()
    source = QueueCompletions(
        queue, "q", ListingCompletions(nothing_listed), fallback_seconds=3600, wait_seconds=20
    )
    tracker = JobTracker(source, lambda finished: None)
    tracker.add(watch("a"))
    waiting = threading.Thread(target=tracker.run, args=(lambda: True,), daemon=True)
    waiting.start()
    wait_for(lambda: tracker.ticks >= 1 and queue.receives >= 1)  # in the long poll now
    tracker.cancel()
    waiting.join(timeout=60)
    assert not waiting.is_alive()


def test_a_job_started_by_another_run_is_listed_at_once_not_after_the_fallback() -> None:
    listed: list[str] = []

    def listing(bucket: str, prefix: str, start_after: str) -> Iterator[str]:
        listed.append(prefix)
        return iter(["out/old.out"])

    source = QueueCompletions(
        FakeQueue(), "q", ListingCompletions(listing), fallback_seconds=3600, wait_seconds=1
    )
    old = watch("old")
    old.adopted = True
    source.expect(old)
    assert dict(source.poll([old])) == {old: JobState.DONE} and listed
    source.stop()


def test_a_notification_a_run_took_as_it_exited_comes_back_within_seconds(moto_clients) -> None:  # type: ignore[no-untyped-def]
    """A run that exits mid long poll has SQS give that poll's messages to nobody: hidden
    for the queue's 30 s, the next run on the queue waited 30 s for its job (4 in 12 runs)."""
    from tests.helpers.waiting import wait_until

    sqs = moto_clients.client("sqs")
    url = sqs.create_queue(QueueName="notes")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=note("a-run")["Body"])
    exited = QueueCompletions(sqs, url, ListingCompletions(nothing_listed), wait_seconds=0)
    assert exited.receive_batch()  # taken, never settled: its process is gone
    next_run = QueueCompletions(sqs, url, ListingCompletions(nothing_listed), wait_seconds=1)
    job = watch("a")
    next_run.expect(job)
    try:
        found = wait_until(lambda: next_run.poll([job]), "the notification back", timeout=20)
    finally:
        next_run.stop()
    assert dict(found) == {job: JobState.DONE}
