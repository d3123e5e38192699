"""Make moto's conditional S3 writes atomic, as S3's are.

moto checks `If-None-Match: *` / `If-Match` and then stores the object in two steps, so two
requests served by two threads at the same moment can both pass the check. S3 never lets that
happen, and wasync's job claims rely on it (two runs of one batch must never both win a job).
Serialising moto's object writes and deletes closes the gap; moto is bound by one interpreter
lock anyway, so little throughput is lost.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

_LOCK = threading.RLock()
_MARK = "_wasync_serialised"


def serialise_object_writes() -> None:
    """Idempotent: wraps moto's PutObject and DeleteObject handlers in one lock."""
    from moto.s3.responses import S3Response

    for name in ("put_object", "delete_object"):
        original = getattr(S3Response, name)
        if getattr(original, _MARK, False):
            continue

        def serialised(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            with _LOCK:
                return _original(self, *args, **kwargs)

        functools.update_wrapper(serialised, original)
        setattr(serialised, _MARK, True)
        setattr(S3Response, name, serialised)
