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

# Variables that decide which code a process loads, or where it looks for it: Python's own,
# the dynamic loader's (Linux and macOS), and those glibc drops for setuid programs for the
# same reason (its UNSECURE_ENVVARS), OpenSSL's module and config paths, and the libraries that
# the CUDA driver and the OpenMP runtime load when named (an injection or a tool library).
_REFUSED_PREFIXES = (
    "PYTHON",
    "LD_",
    "DYLD_",
    "GCONV_",
    "MALLOC_",
    "OPENSSL_",
    "CUDA_INJECTION",
    "NVTX_INJECTION",
    "OMP_TOOL",
)
_REFUSED_NAMES = frozenset(
    {
        "PATH",
        "HOME",
        "TMPDIR",
        "BASH_ENV",
        "ENV",
        "GETCONF_DIR",
        "GLIBC_TUNABLES",
        "HOSTALIASES",
        "LOCALDOMAIN",
        "LOCPATH",
        "NIS_PATH",
        "NLSPATH",
        "RESOLV_HOST_CONF",
        "RES_OPTIONS",
        "TZDIR",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "WASYNC_MODEL_DIR",
        "WASYNC_TMP_DIR",
    }
)


def refused(name: str) -> bool:
    """True for a model variable the serving process must not start with."""
    upper = name.upper()
    return upper in _REFUSED_NAMES or upper.startswith(_REFUSED_PREFIXES)


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
    UTF-8 locale, where the model is, the model's variables except the refused ones, and
    nothing else from this process."""
    home = model_dir.parent / HOME_FOLDER
    scratch = home / "tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    dropped = sorted(name for name in model_environment if refused(name))
    environment = {name: value for name, value in model_environment.items() if not refused(name)}
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
