"""Which extra each part of the package needs, and a clear error when it is not installed.

`pip install wasync` gives the CLI; the rest of the package runs only where an extra is
installed. OWNERS is the map, read by the install-matrix test (tests/test_install_matrix.py),
which builds the package's import graph and checks that every third-party import is declared
by the extra its users install. Code in a smaller extra that imports from a bigger one does so
inside `needs_extra(...)`, which names the extra in the code and, when it is missing, tells
the user what to install instead of failing with ModuleNotFoundError.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from .errors import ConfigurationError

BASE = "base"  # the package's own dependencies: what `pip install wasync` installs

# module, or "module:Qualified.name" for one class or function, -> the extra its users install.
# The longest matching entry wins.
OWNERS: dict[str, str] = {
    "whisper_async": BASE,  # the `wasync` CLI and every capability module it drives
    "whisper_async.serving": "serve",  # the serving container (`wasync-serve`)
    "whisper_async.serving.engines:OpenAIWhisperEngine": "openai",  # torch, openai-whisper
    # the faster engine's bfloat16 encoder: loaded only where torch is installed
    "whisper_async.serving.bfloat16_encoder:load_encoder": "openai",
    "whisper_async.serving.bfloat16_encoder:_TorchEncoder": "openai",
    "whisper_async.serving.ctranslate2_weights:convert": "openai",
    "whisper_async.serving.ctranslate2_weights:convert_file": "openai",
    "whisper_async.local": "local",  # the offline stack: moto server + SageMaker emulator
}


def owner(module: str, qualname: str = "") -> str:
    """The extra that the users of `module` (or of one class or function in it) install."""
    best, best_length = BASE, -1
    for key, extra in OWNERS.items():
        key_module, _, key_name = key.partition(":")
        in_module = module == key_module or module.startswith(key_module + ".")
        if key_name:
            matches = module == key_module and (
                qualname == key_name or qualname.startswith(key_name + ".")
            )
        else:
            matches = in_module
        if matches and len(key) > best_length:
            best, best_length = extra, len(key)
    return best


@contextmanager
def needs_extra(extra: str, feature: str, otherwise: str | None = None) -> Iterator[None]:
    """Imports inside this block come from `extra`; without it, say what to install (or what
    else the user can do: `otherwise`)."""
    try:
        yield
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] == __package__:
            raise  # a module of our own is missing: a broken install, not a missing extra
        raise ConfigurationError(
            f"{feature} needs the {extra!r} extra, which is not installed "
            f"(no module named {exc.name!r}).",
            f"pip install 'wasync[{extra}]'" + (f", or {otherwise}" if otherwise else ""),
        ) from exc
