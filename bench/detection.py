"""What detecting the language costs on long files (multilingual base, faster engine, CPU).

    python -m bench.detection [--runs 3] [--corpus DIR] [--quick]

On the held-out split's long files, with `language` left to detection, three designs of the
faster engine's language runs (docs/serving.md, "Files whose language changes"):
- `every stretch` (the first): one encoder pass per 10 s stretch of speech;
- `unsure chunks, passes reused` (until 2026-12-01): one per 30 s chunk, then one per 10 s
  stretch only inside a chunk that is unsure (below 0.9) or next to a chunk in another
  language, and a file in one language is decoded from the chunks' detection passes
  (serving/detection_reuse.py);
- `stretches read from chunks` (now): the same, but a stretch is first read from its part of
  its chunk's encoder output, and gets a pass of its own only when that reading is not sure.
For each: the encoder passes made to detect, the runs found, the time to find them, and a whole
transcription with the default options (detection included), interleaved run by run. The files' languages are in
the manifest; the mixed-language file's runs should follow its sections.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from bench import corpus
from bench.metrics import Spread

# design: (the threshold below which a chunk is detected again in stretches, passes reused,
# stretches read from their chunk's pass)
DESIGNS = {
    "every stretch": (None, False, False),
    "unsure chunks, passes reused": (0.9, True, False),
    "stretches read from chunks": (0.9, True, True),
}


def counting_engine(workdir: Path) -> Any:
    """The faster engine with the multilingual base model, counting the spans it encodes to
    detect their language: all of them (`detections`), and the stretches given an encoder
    pass of their own (`stretch_passes`). bench/inserts.py uses it too."""
    from tests.helpers import models
    from whisper_async.serving.engines import FasterWhisperEngine, cpu_threads

    class Counting(FasterWhisperEngine):
        detections = 0
        stretch_passes = 0

        def _detect(self, audio: Any, spans: Any) -> Any:
            self.detections += len(spans)
            return super()._detect(audio, spans)

        def _each_encoded(self, audio: Any, spans: Any) -> Any:
            self.stretch_passes += len(spans)
            return super()._each_encoded(audio, spans)

    model_dir = models.assemble_base(workdir / "base")
    return Counting(model_dir, "base", "cpu", "int8", cpu_threads({}))


def measure(runs: int, directory: Path, workdir: Path) -> dict[str, Any]:
    import time

    from whisper_async.attributes import TranscribeOptions
    from whisper_async.serving.audio import decode_audio

    longer = [f for f in corpus.heldout_files(directory) if f.kind != "short" and f.duration > 30]
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    files: list[corpus.CorpusFile] = []
    if not longer:  # the quick corpus: no base model to load
        return {"files": files, "rows": rows, "runs": runs}
    engine = counting_engine(workdir)
    for f in longer:
        audio = decode_audio(f.path)
        regions, chunks = engine.speech_plan(audio)
        if not chunks:  # one chunk of speech: faster-whisper detects once
            continue
        files.append(f)
        for run in range(runs):
            for design, (threshold, reuse, from_chunk) in DESIGNS.items():
                engine.refine_below, engine.model.reuse_detection = threshold, reuse
                engine.stretches_from_chunk = from_chunk
                row = rows.setdefault((f.name, design), {"find": [], "transcribe": []})
                engine.detections = 0
                started = time.perf_counter()
                found = engine.language_runs(audio, regions)
                row["find"].append(time.perf_counter() - started)
                row["detections"] = engine.detections
                row["runs"] = [(r.start, r.end, r.language) for r in found]
                started = time.perf_counter()
                engine.transcribe(audio, TranscribeOptions())
                row["transcribe"].append(time.perf_counter() - started)
                print(f"  {f.name} {design} run {run + 1}/{runs}", file=sys.stderr, flush=True)
    return {"files": files, "rows": rows, "runs": runs}


def report(result: dict[str, Any]) -> str:
    if not result["files"]:
        return "No file longer than one window: nothing to compare."
    lines = [
        f"Median of {result['runs']} runs; speed-up against `every stretch` on the same file, same run.",
        "",
        "| file | design | detection passes | runs found | finding the runs | speed-up | whole transcription | speed-up |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for f in result["files"]:
        before = result["rows"][(f.name, "every stretch")]
        for design in DESIGNS:
            row = result["rows"][(f.name, design)]
            find, whole = Spread.of(row["find"]), Spread.of(row["transcribe"])
            found = ", ".join(f"{a:.0f}-{b:.0f} s {lang}" for a, b, lang in row["runs"])
            lines.append(
                f"| {f.name} ({f.duration / 60:.1f} min) | `{design}` | {row['detections']} | {found} "
                f"| {find.median:.1f} s | {find.ratio_to(Spread.of(before['find'])):.2f}x "
                f"| {whole.median:.1f} s | {whole.ratio_to(Spread.of(before['transcribe'])):.2f}x |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    return corpus.run_benchmark(argv, measure, report, runs=3)


if __name__ == "__main__":
    sys.exit(main())
