"""Which container engine to use: one that answers `ENGINE info`, not merely a binary on PATH.

A `docker` client without a daemon, or a podman that cannot start containers on this kernel, is
found on PATH but cannot build or run anything; each probe says why, so the error names the fix.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .errors import ConfigurationError, UsageError

ENGINES = ("docker", "podman", "finch")
PROBE_TIMEOUT = 30.0  # `podman info` can take seconds on a first run, when it sets up storage


@dataclass(frozen=True)
class Probe:
    name: str
    path: str | None  # None: not on PATH
    working: bool
    detail: str  # why it does not work, or the engine's version

    def describe(self) -> str:
        if self.path is None:
            return f"{self.name}: not installed (not on PATH)"
        return f"{self.name} ({self.path}): {'working' if self.working else self.detail}"


Prober = Callable[[str], Probe]


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    # docker prints a banner before the error; the error is the informative line
    errors = [line for line in lines if "error" in line.lower() or "cannot" in line.lower()]
    return (errors or lines or ["no output"])[0][:300]


def probe(name: str, timeout: float = PROBE_TIMEOUT) -> Probe:
    """Ask the engine itself: `NAME info` succeeds only when it can reach its daemon or storage."""
    path = shutil.which(name)
    if path is None:
        return Probe(name, None, False, "not on PATH")
    try:
        done = subprocess.run(
            [path, "info"],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return Probe(name, path, False, f"`{name} info` did not answer within {timeout:.0f}s")
    except OSError as exc:
        return Probe(name, path, False, f"cannot run it: {exc}")
    if done.returncode != 0:
        return Probe(
            name,
            path,
            False,
            f"`{name} info` failed (exit {done.returncode}): {_first_line(done.stderr + done.stdout)}",
        )
    return Probe(name, path, True, "working")


def check_name(name: str, allowed: Sequence[str] = ENGINES) -> None:
    if name not in allowed:
        raise UsageError(f"unknown container engine {name!r}", f"use one of {', '.join(allowed)}")


def find_engine(
    preferred: str | None, purpose: str, prober: Prober = probe, candidates: Sequence[str] = ENGINES
) -> str:
    """The path of `preferred` if it works, else of the first working candidate; otherwise an
    error that lists what was tried and why each failed."""
    names = [preferred] if preferred else list(candidates)
    for name in names:
        check_name(name, candidates)
    probes = []
    for name in names:
        found = prober(name)
        if found.working and found.path:
            return found.path
        probes.append(found)
    tried = "; ".join(p.describe() for p in probes).rstrip(".")
    if preferred:
        hint = (
            f"install {preferred}"
            if probes[0].path is None
            else f"start {preferred}'s daemon or service (`{preferred} info` must succeed)"
        )
        raise ConfigurationError(f"No working {preferred} to {purpose}: {tried}", hint)
    raise ConfigurationError(
        f"No working container engine to {purpose}: {tried}",
        f"install and start one of {', '.join(candidates)} (Docker, Podman or Finch)",
    )
