"""What a serving image can run, so that push-model and deploy refuse a model it cannot load.

`wasync build` records each image's engines (the same list its `io.wasync.engines` label and
/opt/wasync/image.json carry) in the state directory. For an ECR image built elsewhere (in CI,
say), the label is read from the image's config in ECR. An image known neither way passes, and
the server itself refuses the model at start with a message.
"""

from __future__ import annotations

import contextlib
import json
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

from . import state
from .clients import Clients
from .errors import UsageError

_KEY = "engines@"
LABEL = "io.wasync.engines"
MANIFEST_TYPES = [
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.index.v1+json",
]
MAX_CONFIG_BYTES = 1 << 20
Fetch = Callable[[str], bytes]


def fetch_url(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - an ECR presigned https URL
        return bytes(response.read(MAX_CONFIG_BYTES))


def remember(clients: Clients, image_uri: str, engines: Sequence[str]) -> None:
    state.remember(clients.settings, clients.region, _KEY + image_uri, ",".join(engines))


def _manifest(ecr: Any, repository: str, image_id: dict[str, str]) -> dict[str, Any]:
    images = ecr.batch_get_image(
        repositoryName=repository, imageIds=[image_id], acceptedMediaTypes=MANIFEST_TYPES
    )["images"]
    return dict(json.loads(images[0]["imageManifest"])) if images else {}


def registry_engines(
    clients: Clients, image_uri: str, fetch: Fetch = fetch_url
) -> tuple[str, ...] | None:
    """The image's `io.wasync.engines` label, read from its config blob in ECR; None when the
    image is not in ECR, has no such label, or cannot be read (no permission, no network)."""
    from .endpoint import ECR_IMAGE  # endpoint imports this module

    match = ECR_IMAGE.fullmatch(image_uri)
    if not match or clients.settings.is_local:
        return None
    _, _, repository, tag, digest = match.groups()
    image_id = {"imageDigest": digest} if digest else {"imageTag": tag or "latest"}
    try:
        ecr = clients.client("ecr")
        manifest = _manifest(ecr, repository, image_id)
        for entry in manifest.get("manifests", []):  # a multi-platform index: take linux/amd64
            if entry.get("platform", {}).get("architecture") == "amd64":
                manifest = _manifest(ecr, repository, {"imageDigest": entry["digest"]})
                break
        config_digest = manifest["config"]["digest"]
        url = ecr.get_download_url_for_layer(repositoryName=repository, layerDigest=config_digest)[
            "downloadUrl"
        ]
        labels = json.loads(fetch(url)).get("config", {}).get("Labels") or {}
    except Exception:  # unknown is an answer: the server checks again at start
        return None
    value = labels.get(LABEL)
    return tuple(value.split(",")) if value else None


def engines_of(
    clients: Clients, image_uri: str, fetch: Fetch = fetch_url
) -> tuple[str, ...] | None:
    recorded = state.recall(clients.settings, clients.region, _KEY + image_uri)
    if recorded:
        return tuple(recorded.split(","))
    found = registry_engines(clients, image_uri, fetch)
    if found:
        with contextlib.suppress(OSError):  # a cache: without it, the registry is asked again
            remember(clients, image_uri, found)
    return found


def default_image(clients: Clients) -> str | None:
    """The image deploy would use without --image."""
    return clients.settings.image_uri or state.recall(clients.settings, clients.region, "image_uri")


def check_model_fits(
    clients: Clients,
    image_uri: str | None,
    engine: str | None,
    action: str,
    fetch: Fetch = fetch_url,
) -> None:
    """Refuse, before anything changes, a model whose engine the image does not hold."""
    if not image_uri or not engine:
        return
    engines = engines_of(clients, image_uri, fetch)
    if engines is None or engine in engines:
        return
    raise UsageError(
        f"{action}: the model needs the {engine} engine, but the serving image {image_uri} holds "
        f"only {', '.join(engines)} (no torch, so openai-whisper cannot load).",
        "build the image that has it with `wasync build --engine openai` (then deploy with it), "
        "or use a faster-whisper (CTranslate2) model",
    )


def check_holds_torch(
    clients: Clients, image_uri: str, feature: str, fetch: Fetch = fetch_url
) -> None:
    """Refuse, before anything changes, a feature that needs torch on an image without it."""
    engines = engines_of(clients, image_uri, fetch)
    if engines is None or "openai" in engines:
        return
    raise UsageError(
        f"{feature} needs torch in the serving image, but {image_uri} holds only "
        f"{', '.join(engines)} (no torch).",
        "build the image with torch with `wasync build --with-openai` (then deploy with it)",
    )
