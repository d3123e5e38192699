"""Whether the image tests can run here, and if not, why (printed, never a silent skip).

`python -m tests.helpers.image_gate` prints the decision; `make test-image` calls it first.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from whisper_async.container_engines import Prober, probe

FLAG = "WASYNC_IMAGE_TESTS"
ENGINE = "podman"


def skip_reason(environ: Mapping[str, str], prober: Prober = probe) -> str | None:
    """None when the image tests should run; otherwise the reason they are skipped."""
    if environ.get(FLAG) != "1":
        return f"the image tests build and run the serving image: run them with `make test-image` ({FLAG}=1)"
    found = prober(ENGINE)
    if not found.working:
        return f"no usable container engine: {found.describe()}"
    return None


if __name__ == "__main__":
    reason = skip_reason({**os.environ, FLAG: "1"})
    print(f"image tests: SKIPPED: {reason}" if reason else f"image tests: running with {ENGINE}")
    sys.exit(0)
