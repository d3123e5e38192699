"""What a `transcribe` run was asked to do."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_TTL = 6 * 3600  # InvokeEndpointAsync's own default and maximum


@dataclass(frozen=True)
class TranscribeRequest:
    options: Mapping[str, Any]  # the request options the server reads (attributes.py)
    fmt: str = "txt"
    output_dir: Path | None = None
    overwrite: bool = False
    wait: bool = True
    timeout: float = 3600
    inline: bool = True
    request_ttl: int = DEFAULT_TTL
    invocation_timeout: int = 3600
    rerun: bool = False
    to_stdout: bool = False  # one input, no --output-dir: the transcript goes to stdout
    keep_extension: bool = False  # call.wav's transcript is call.wav.txt, not call.txt
