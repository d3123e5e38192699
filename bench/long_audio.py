"""Server memory for long audio: peak and leftover RSS for hours of audio, against the RSS the
same server process had before the request (its baseline, measured in the same run).

    python -m bench.long_audio [--hours 1 4] [--whole-hours 1] [--refused-hours 10] [--no-untrimmed]
                               [--batch-hours 0.5] [--batch-sizes 2 8 32 (none by default)]

Each row runs in a fresh `wasync-serve` process (faster engine, tiny.en, CPU): one short warm-up
request, then the baseline RSS, then the long request with the peak reset just before it
(`/proc/PID/clear_refs`), then the RSS once it is answered. The audio is 16 kHz FLAC of
en_30s.wav over and over (a 0.35 s pause between repeats): speech throughout, as a long
recording has. (Hours of digital silence are no cheaper: tiny.en hallucinates on them, and
each hallucinated window runs through every temperature fallback.) Rows:
- 30 min windows: the default window wherever 8 GiB or more is free;
- no malloc_trim: WASYNC_MALLOC_TRIM=0, for what the trim gives back after the request;
- one window: WASYNC_WINDOW_SECONDS above the file's length, i.e. the whole file decoded and
  transcribed at once, as before windows existed;
- refused: hours of silence over the duration limit, answered 413 before decoding;
- batch_size=N: the request asks for that batch size (WASYNC_MAX_BATCH_SIZE raised to allow
  it), for what each chunk of a batch holding its encoder's activations at once costs, and so
  for the limits the server puts on batch_size (cpu 8, cuda 32).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.helpers import models
from tests.helpers.audio import write_flac
from tests.helpers.processes import serve_process, wait_for_status
from whisper_async.serving.windows import LONGEST_WINDOW

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
SPEECH_EVERY = 31.5  # en_30s.wav lasts 31.15 s


WINDOWED = "30 min windows"
BATCH_LABEL = "30 min windows, batch_size="
DESCRIPTION = (
    "Each row is a fresh `wasync-serve` (faster engine, tiny.en, CPU): a warm-up request, then "
    "the baseline RSS, then the long request with the peak RSS reset just before it, then the "
    "RSS once it is answered. Audio: en_30s.wav repeated (speech throughout), 16 kHz FLAC. "
    "Growth and leftover are against the baseline of the same process."
)


def _status_mib(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for pid {pid}")


def _reset_peak(pid: int) -> None:
    """Reset VmHWM to the current RSS (Linux 4.0+), so the peak is this request's."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


@dataclass(frozen=True)
class Row:
    label: str
    audio_hours: float
    status: int
    baseline_mib: float
    peak_mib: float
    after_mib: float
    seconds: float
    processing_seconds: float | None

    @property
    def growth_mib(self) -> float:
        return self.peak_mib - self.baseline_mib

    @property
    def leftover_mib(self) -> float:
        return self.after_mib - self.baseline_mib


def run_row(
    label: str,
    audio: Path,
    hours: float,
    env: dict[str, str],
    headers: dict[str, str] | None = None,
) -> Row:
    model_dir = models.tiny_en_ctranslate2()
    with serve_process(model_dir, env) as (process, url):
        wait_for_status(f"{url}/ping", 200, timeout=300)
        warm = httpx.post(
            f"{url}/invocations", content=(DATA / "en_short.wav").read_bytes(), timeout=600
        )
        warm.raise_for_status()
        baseline = _status_mib(process.pid, "VmRSS")
        _reset_peak(process.pid)
        started = time.perf_counter()
        response = httpx.post(
            f"{url}/invocations", content=audio.read_bytes(), headers=headers, timeout=7200
        )
        seconds = time.perf_counter() - started
        peak = _status_mib(process.pid, "VmHWM")
        after = _status_mib(process.pid, "VmRSS")
    processing = None
    if response.status_code == 200:
        processing = float(response.json()["timings"]["processing_seconds"])
    else:
        print(f"{label}: {response.status_code} {response.text[:300]}", file=sys.stderr)
    return Row(label, hours, response.status_code, baseline, peak, after, seconds, processing)


def measure(
    hours: list[float],
    whole_hours: list[float],
    refused_hours: float,
    workdir: Path,
    untrimmed: bool = True,
    batch_hours: float = 0.5,
    batch_sizes: tuple[int, ...] = (),
) -> list[Row]:
    """The rows, each printed to stderr as it completes (the 4 h rows take long on CPU)."""
    workdir.mkdir(parents=True, exist_ok=True)
    speech = DATA / "en_30s.wav"

    def audio(h: float) -> Path:  # written just before its row, removed after it
        return write_flac(workdir / f"{h:g}h.flac", h * 3600, speech, every_seconds=SPEECH_EVERY)

    # the limit is raised above every file measured, so only the refused row meets it
    longest = max([*hours, *whole_hours, batch_hours if batch_sizes else 0], default=0)
    base = {"WASYNC_MAX_AUDIO_SECONDS": str(longest * 3600 + 60)}
    windowed = {**base, "WASYNC_WINDOW_SECONDS": str(LONGEST_WINDOW)}
    plan: list[tuple[str, float, dict[str, str], dict[str, str]]] = [
        (WINDOWED, h, windowed, {}) for h in hours
    ]
    if hours and untrimmed:
        plan.append(
            (
                "30 min windows, no malloc_trim",
                hours[0],
                {**windowed, "WASYNC_MALLOC_TRIM": "0"},
                {},
            )
        )
    for h in whole_hours:
        plan.append(
            (
                "one window: the whole file at once",
                h,
                {**base, "WASYNC_WINDOW_SECONDS": str(h * 3600 + 60)},
                {},
            )
        )
    allowing = {**windowed, "WASYNC_MAX_BATCH_SIZE": str(max(batch_sizes, default=1))}
    for size in batch_sizes:
        attributes = {"X-Amzn-SageMaker-Custom-Attributes": f"batch_size={size}"}
        plan.append((f"{BATCH_LABEL}{size}", batch_hours, allowing, attributes))
    rows = []
    for label, h, env, headers in plan:
        path = audio(h)
        rows.append(run_row(label, path, h, env, headers))
        path.unlink()
        print(report(rows[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
    if refused_hours:
        silence = write_flac(workdir / "silence.flac", refused_hours * 3600)
        rows.append(run_row("silence, over the 4 h default limit", silence, refused_hours, {}))
    return rows


def report(rows: list[Row]) -> str:
    lines = [
        "| audio | how | answer | baseline RSS | peak RSS (growth) | RSS after (left over) | request time | RTF |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        rtf = (
            f"{r.processing_seconds / (r.audio_hours * 3600):.3f}" if r.processing_seconds else "-"
        )
        lines.append(
            f"| {r.audio_hours:g} h | {r.label} | {r.status} | {r.baseline_mib:.0f} MiB | "
            f"{r.peak_mib:.0f} MiB (+{r.growth_mib:.0f}) | {r.after_mib:.0f} MiB "
            f"({r.leftover_mib:+.0f}) | {r.seconds:.1f} s | {rtf} |"
        )
    return "\n".join(lines)


def batch_growth(rows: list[Row]) -> str:
    """Each batch size's growth against the smallest batch size's, measured in the same run."""
    batched = [r for r in rows if r.label.startswith(BATCH_LABEL) and r.status == 200]
    if len(batched) < 2:
        return ""
    base = batched[0]

    def size(row: Row) -> str:
        return row.label.removeprefix(BATCH_LABEL)

    return "; ".join(
        f"batch_size={size(r)}: {r.growth_mib / max(base.growth_mib, 1.0):.2f}x the growth "
        f"of batch_size={size(base)}"
        for r in batched[1:]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hours", type=float, nargs="*", default=[1.0, 4.0])
    parser.add_argument("--whole-hours", type=float, nargs="*", default=[1.0])
    parser.add_argument("--refused-hours", type=float, default=10.0)
    parser.add_argument(
        "--no-untrimmed", action="store_true", help="skip the row without malloc_trim"
    )
    parser.add_argument("--batch-hours", type=float, default=0.5)
    parser.add_argument("--batch-sizes", type=int, nargs="*", default=[])
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="wasync-long-audio-") as directory:
        rows = measure(
            args.hours,
            args.whole_hours,
            args.refused_hours,
            Path(directory),
            untrimmed=not args.no_untrimmed,
            batch_hours=args.batch_hours,
            batch_sizes=tuple(args.batch_sizes),
        )
    print(report(rows))
    batches = batch_growth(rows)
    if batches:
        print("\n" + batches)
    return 0


if __name__ == "__main__":
    sys.exit(main())
