"""Wait on SageMaker's SNS notifications through an SQS queue instead of polling S3.

The queue must be subscribed to the endpoint's success and error topics (`deploy --notify`
creates them). Messages for jobs this process did not submit are left for their owners.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from .clients import Clients

log = logging.getLogger("wasync.notifications")


class NotificationWatcher:
    def __init__(self, clients: Clients, queue_url: str, poll_seconds: int = 10) -> None:
        self.sqs = clients.client("sqs")
        self.queue_url = queue_url
        self.poll_seconds = poll_seconds
        self._expected: set[str] = set()
        self._arrived: dict[str, dict[str, Any]] = {}
        self._condition = threading.Condition()
        self._stopped = False
        self._thread: threading.Thread | None = None

    def expect(self, inference_id: str) -> None:
        with self._condition:
            self._expected.add(inference_id)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._receive, name="sqs-notifications", daemon=True
                )
                self._thread.start()

    def _receive(self) -> None:
        while not self._stopped:
            try:
                response = self.sqs.receive_message(
                    QueueUrl=self.queue_url,
                    MaxNumberOfMessages=10,
                    WaitTimeSeconds=self.poll_seconds,
                )
            except Exception as exc:
                if self._stopped:
                    return
                log.warning("receiving notifications from %s failed: %s", self.queue_url, exc)
                time.sleep(1)
                continue
            for message in response.get("Messages", []):
                note = parse(message.get("Body", ""))
                inference_id = note.get("inferenceId") if note else None
                with self._condition:
                    ours = inference_id in self._expected
                    if ours:
                        self._arrived[str(inference_id)] = note or {}
                        self._condition.notify_all()
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

    def wait_for(self, inference_id: str, timeout: float) -> dict[str, Any] | None:
        with self._condition:
            self._condition.wait_for(
                lambda: inference_id in self._arrived or self._stopped, timeout
            )
            return self._arrived.pop(inference_id, None)

    def stop(self) -> None:
        with self._condition:
            self._stopped = True
            self._condition.notify_all()


def parse(body: str) -> dict[str, Any] | None:
    """The notification inside an SNS envelope (or a raw-delivery message)."""
    try:
        data = json.loads(body)
        if isinstance(data, dict) and "Message" in data and "inferenceId" not in data:
            data = json.loads(data["Message"])
    except (ValueError, TypeError):
        return None
    return data if isinstance(data, dict) and "inferenceId" in data else None
