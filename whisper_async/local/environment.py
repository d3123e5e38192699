"""The environment a serving process starts with: clean, as a container's is.

A container on SageMaker sees its image's environment, SageMaker's variables and the model's
`Environment`, and nothing of the host. A serving *process* on this machine must see no more,
and the model's variables may not change how Python or the dynamic loader start: through
`PYTHONPATH` and a `sitecustomize.py` in model.tar.gz, anyone who can call CreateModel would
otherwise run code as the user who runs the stack. The process also runs `python -I`
(isolated: no PYTHON* variables, no user site-packages, no current folder on sys.path)
and `-u` (unbuffered, so log lines reach CloudWatch Logs as they happen).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from .modelstore import HOME_FOLDER

# A model's variables pass only if they tune wasync, SageMaker's serving, the engines or their
# threads. A list of what to refuse always missed one: oneDNN, inside CTranslate2, loads the
# library INTEL_LIBITTNOTIFY64 names, and ONEDNN_JIT_DUMP writes files where the process runs;
# the loader, Python, glibc, OpenSSL, CUDA and OpenMP each have more such variables.
_ALLOWED_PREFIXES = ("WASYNC_", "SAGEMAKER_", "CT2_")
_ALLOWED_NAMES = frozenset(
    {
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "TOKENIZERS_PARALLELISM",
        "CUDA_VISIBLE_DEVICES",
        "NVIDIA_VISIBLE_DEVICES",
    }
)
# Set by the stack itself: where the model is, and where request bodies go.
_STACK_NAMES = frozenset({"WASYNC_MODEL_DIR", "WASYNC_TMP_DIR"})


def refused(name: str, value: str = "") -> bool:
    """True for a model variable the serving process must not start with: any not allowed,
    and any whose value holds a NUL byte (no process can be started with it)."""
    allowed = name.startswith(_ALLOWED_PREFIXES) or name in _ALLOWED_NAMES
    return not allowed or name in _STACK_NAMES or "=" in name or "\0" in name + value


def safe_path() -> str:
    """The interpreter's own folder, then the system's: never a folder a model controls."""
    return os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"])


def serving_environment(
    model_environment: Mapping[str, str], model_dir: Path
) -> tuple[dict[str, str], list[str]]:
    """(the environment to start the serving process with, the model variables dropped).

    The serving process gets: a fixed PATH, a HOME, cache and temporary folder of its own
    beside the model (the ModelStore layout, removed with the model: a process stopped before
    its drain ends, or killed, leaves its request bodies there, not in the host's /tmp), a
    UTF-8 locale, where the model is, the model's allowed variables, and nothing else from
    this process."""
    home = model_dir.parent / HOME_FOLDER
    scratch = home / "tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    dropped = sorted(name for name, value in model_environment.items() if refused(name, value))
    environment = {
        name: value for name, value in model_environment.items() if not refused(name, value)
    }
    environment.update(
        {
            "PATH": safe_path(),
            "HOME": str(home),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "TMPDIR": str(scratch),
            "WASYNC_TMP_DIR": str(scratch),
            "LANG": "C.UTF-8",
            "WASYNC_MODEL_DIR": str(model_dir),
        }
    )
    return environment, dropped
