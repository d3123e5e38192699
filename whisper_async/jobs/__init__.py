"""transcribe, fetch and jobs: submit audio to the async endpoint and collect the results.

`transcribe.py` checks a request and runs a `Batch` (`batch.py`): inputs stream in, each job
is claimed in its record (`records.py`) and submitted (`submission.py`), one `JobTracker`
(`tracker.py`) waits for all of them through S3 listings (`listing.py`) or SQS notifications
(`notifications.py`), and results are converted and written (`results.py`). `fetch.py` and
`history.py` read the records later, from any machine.
"""

from __future__ import annotations

from .batch import Batch
from .fetch import Fetched, fetch
from .history import JobEntry, list_jobs
from .outcomes import BatchReport, JobOutcome, Progress
from .records import JobRecord
from .request import TranscribeRequest
from .results import failure_message
from .transcribe import check_request, transcribe

__all__ = [
    "Batch",
    "BatchReport",
    "Fetched",
    "JobEntry",
    "JobOutcome",
    "JobRecord",
    "Progress",
    "TranscribeRequest",
    "check_request",
    "failure_message",
    "fetch",
    "list_jobs",
    "transcribe",
]
