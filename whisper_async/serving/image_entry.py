"""The image's entry point: say what the image holds, refuse a model it cannot load, drop root.

SageMaker starts containers as root and expects them to run as root. The server itself needs no
privilege: it reads /opt/ml/model and binds port 8080. So, when started as root, it switches to
the image's `wasync` user once it has checked that this user can read every file of the model;
if it cannot (a model packaged with owner-only permissions), it stays root and says why.
Audio decoding, the part that parses untrusted input, then runs unprivileged.
"""

from __future__ import annotations

import json
import os
import pwd
import stat
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ..manifest import ModelLayoutError, detect_layout
from . import main as serving_main

EXIT_WRONG_IMAGE = 3


def image_engines(path: Path) -> tuple[str, ...] | None:
    """The engines /opt/wasync/image.json lists; None when the file is missing or unreadable."""
    try:
        data = json.loads(path.read_text())
        return tuple(str(engine) for engine in data["engines"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def wrong_image(engines: tuple[str, ...] | None, model_dir: Path) -> str | None:
    """Why this image cannot serve the model, or None. A model the server cannot even recognise
    is left to the server, which reports it on /ping."""
    if engines is None:
        return None
    try:
        engine = detect_layout(model_dir).engine
    except ModelLayoutError:
        return None
    if engine in engines:
        return None
    return (
        f"the model in {model_dir} needs the {engine} engine, but this image holds only "
        f"{', '.join(engines)}. Build the image with `wasync build --engine {engine}` and deploy "
        "that image."
    )


def readable_by(user: pwd.struct_passwd, path: Path) -> bool:
    """Whether `user` (not the current process) may read `path`, and enter it if it is a folder."""
    info = path.stat()
    if info.st_uid == user.pw_uid:
        read, execute = stat.S_IRUSR, stat.S_IXUSR
    elif info.st_gid == user.pw_gid:  # the only group left after setgroups([])
        read, execute = stat.S_IRGRP, stat.S_IXGRP
    else:
        read, execute = stat.S_IROTH, stat.S_IXOTH
    wanted = read | (execute if stat.S_ISDIR(info.st_mode) else 0)
    return info.st_mode & wanted == wanted


def unreadable(user: pwd.struct_passwd, model_dir: Path) -> Path | None:
    """The first path under model_dir (itself included) that `user` cannot read."""
    if not model_dir.exists():
        return None  # the server reports a missing model on /ping
    for path in [model_dir, *sorted(model_dir.rglob("*"))]:
        if not readable_by(user, path):
            return path
    return None


def drop_privileges(user_name: str | None, model_dir: Path) -> str:
    """Switch to `user_name` when running as root and it can read the model; say what happened."""
    if os.geteuid() != 0:
        return f"running as uid {os.geteuid()}"
    if not user_name:
        return "running as root (WASYNC_RUN_AS is not set)"
    try:
        user = pwd.getpwnam(user_name)
    except KeyError:
        return f"running as root: user {user_name!r} does not exist in this image"
    blocked = unreadable(user, model_dir)
    if blocked is not None:
        return (
            f"running as root: {blocked} is not readable by {user_name}; package the model with "
            "world-readable files (wasync push-model does) to run unprivileged"
        )
    os.setgroups([])
    os.setgid(user.pw_gid)
    os.setuid(user.pw_uid)
    os.environ["HOME"] = tempfile.gettempdir()  # the user has no home; caches go to /tmp
    os.environ["USER"] = user_name
    return f"running as {user_name} (uid {user.pw_uid})"


def _option(args: list[str], name: str) -> str | None:
    for index, arg in enumerate(args):
        if arg == name and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["serve"]:
        model_dir = Path(
            _option(args, "--model-dir") or os.environ.get("WASYNC_MODEL_DIR", "/opt/ml/model")
        )
        engines = image_engines(Path(os.environ.get("WASYNC_IMAGE_FILE", "/opt/wasync/image.json")))
        print(f"wasync image: engines {', '.join(engines or ('unknown',))}", flush=True)
        problem = wrong_image(engines, model_dir)
        if problem:
            print(f"wasync image: cannot serve: {problem}", file=sys.stderr, flush=True)
            return EXIT_WRONG_IMAGE
        print(
            f"wasync image: {drop_privileges(os.environ.get('WASYNC_RUN_AS'), model_dir)}",
            flush=True,
        )
    return serving_main.main(args)


if __name__ == "__main__":
    sys.exit(main())
