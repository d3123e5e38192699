"""One endpoint's jobs from the queue to their result or failure object.

Workers hand the dispatcher a job and a healthy container; jobs that nobody runs (their
RequestTTLSeconds passed, the endpoint failed or went away, the stack stopped) fail here with
the reason, so no job is lost silently. Each job is settled once, whoever gets to it first.
"""

from __future__ import annotations

import logging
import time

from .invocation import Outcome, invoke
from .jobqueue import Job, JobQueue
from .sink import AwsSink
from .supervisor import ContainerHandle

log = logging.getLogger("wasync.local")


def expired_outcome(job: Job) -> Outcome:
    waited = int(time.time() - job.received)
    return Outcome.failure(
        "request_expired",
        f"the request waited {waited}s, over its RequestTTLSeconds of {job.ttl_seconds}",
    )


class Dispatcher:
    def __init__(self, sink: AwsSink) -> None:
        self.sink = sink
        self.queue = JobQueue()

    def accept(self, job: Job) -> bool:
        """Queue a job; False once the endpoint takes no more (it is going away)."""
        return self.queue.put(job)

    def close(self) -> None:
        """Take no more jobs; those queued and running carry on."""
        self.queue.close()

    def run(self, job: Job, container: ContainerHandle) -> None:
        """Run a job a worker took from the queue, on that worker's container."""
        try:
            if job.expired(time.time()):
                outcome = expired_outcome(job)
            else:
                outcome = invoke(job, container, self.sink.fetch_input)
        except Exception as exc:  # a bug here fails this job with the reason, not the worker
            log.exception("job %s", job.inference_id)
            outcome = Outcome.failure(
                "internal_error", f"the local stack failed to run the job: {exc}"
            )
        if self.queue.settle(job):  # else the stack or a delete failed it already
            self._finish(job, outcome)

    def expire_waiting(self) -> None:
        for job in self.queue.withdraw_expired(time.time()):
            self._finish(job, expired_outcome(job))

    def fail_waiting(self, code: str, message: str) -> None:
        self._fail(self.queue.withdraw_waiting(), code, message)

    def abandon(self, code: str, message: str) -> list[str]:
        """Take no more jobs; fail every queued and running one; return their ids."""
        self.queue.close()
        return self._fail(self.queue.withdraw_all(), code, message)

    def drain(self, grace: float) -> list[str]:
        """Take no more jobs, give the queued and running ones `grace` seconds, then fail the
        rest; return their ids."""
        self.queue.close()
        self.queue.wait_idle(grace)
        return self.abandon(
            "stack_stopped", "the local stack stopped before this job finished; submit it again"
        )

    def publish_metrics(self, instances: int) -> None:
        waiting, running = self.queue.counts()
        self.sink.put_metrics(waiting + running, instances, self.queue.oldest_received())

    def _fail(self, jobs: list[Job], code: str, message: str) -> list[str]:
        for job in jobs:
            self._finish(job, Outcome.failure(code, message))
        return [job.inference_id for job in jobs]

    def _finish(self, job: Job, outcome: Outcome) -> None:
        if job.body_path:
            job.body_path.unlink(missing_ok=True)
        try:
            self.sink.deliver(job, outcome)
        except Exception:  # S3 refused: say so in the stack's log; the others still finish
            log.exception("could not write the result of job %s", job.inference_id)
