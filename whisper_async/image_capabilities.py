"""What a serving image can run, so that push-model and deploy refuse a model it cannot load.

`wasync build` records each image's engines (the same list its `io.wasync.engines` label and
/opt/wasync/image.json carry) in the state directory. An image wasync did not build here is not
known; then the checks pass, and the server itself refuses the model at start with a message.
"""

from __future__ import annotations

from collections.abc import Sequence

from . import state
from .clients import Clients
from .errors import UsageError

_KEY = "engines@"


def remember(clients: Clients, image_uri: str, engines: Sequence[str]) -> None:
    state.remember(clients.settings, clients.region, _KEY + image_uri, ",".join(engines))


def engines_of(clients: Clients, image_uri: str) -> tuple[str, ...] | None:
    recorded = state.recall(clients.settings, clients.region, _KEY + image_uri)
    return tuple(recorded.split(",")) if recorded else None


def default_image(clients: Clients) -> str | None:
    """The image deploy would use without --image."""
    return clients.settings.image_uri or state.recall(clients.settings, clients.region, "image_uri")


def check_model_fits(
    clients: Clients, image_uri: str | None, engine: str | None, action: str
) -> None:
    """Refuse, before anything changes, a model whose engine the image does not hold."""
    if not image_uri or not engine:
        return
    engines = engines_of(clients, image_uri)
    if engines is None or engine in engines:
        return
    raise UsageError(
        f"{action}: the model needs the {engine} engine, but the serving image {image_uri} holds "
        f"only {', '.join(engines)} (no torch, so openai-whisper cannot load).",
        "build the image that has it with `wasync build --engine openai` (then deploy with it), "
        "or use a faster-whisper (CTranslate2) model",
    )
