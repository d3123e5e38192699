"""`wasync-serve serve`: the container's entry point (SageMaker runs `docker run IMAGE serve`)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from ..errors import ConfigurationError
from ..extras import needs_extra

if TYPE_CHECKING:
    from .engines import Engine

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"  # the decoder server's too


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wasync-serve", description="wasync's serving container")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve /ping and /invocations")
    serve.add_argument("--host", default=os.environ.get("WASYNC_BIND_HOST", "0.0.0.0"))  # noqa: S104 - the container's contract
    serve.add_argument(
        "--port", type=int, default=int(os.environ.get("SAGEMAKER_BIND_TO_PORT", "8080"))
    )
    serve.add_argument("--model-dir", default=None, help="overrides WASYNC_MODEL_DIR")
    sub.add_parser("train", help="not supported: this image only serves")
    return parser


def load_serving_engine(model_dir: Path) -> Engine:
    """The engine for `model_dir`; then everything alive, the model above all, is frozen out of
    later garbage collections (memory.py), since it lives as long as the server."""
    from .decoder_process import prestart
    from .engines import load_engine
    from .memory import freeze_loaded_objects

    prestart()  # forks no later than here, with nothing of the model's to copy
    engine = load_engine(model_dir)
    freeze_loaded_objects()
    return engine


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "train":
        print(
            "wasync-serve: this image serves Whisper for inference only; training is not "
            "supported. SageMaker should run it with `serve`.",
            file=sys.stderr,
        )
        return 2
    configure_logging(os.environ.get("WASYNC_LOG_LEVEL", "INFO").upper())
    try:
        with needs_extra("serve", "wasync-serve"):
            import uvicorn

            from .app import ServerSettings, create_app
            from .protocol import QuietAcceptErrors, with_head_timeout
    except ConfigurationError as exc:
        print(f"wasync-serve: {exc.message}\nhint: {exc.hint}", file=sys.stderr)
        return 2

    if args.model_dir:
        os.environ["WASYNC_MODEL_DIR"] = args.model_dir
    try:
        settings = ServerSettings.from_env()
    except ValueError as exc:
        print(f"wasync-serve: {exc}", file=sys.stderr)
        return 2

    app = create_app(settings, lambda: load_serving_engine(settings.model_dir))
    drain = app.state.serving.drain

    class Server(uvicorn.Server):
        """uvicorn's server; SIGTERM also starts the app's drain period (see drain.py)."""

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            drain.start()
            super().handle_exit(sig, frame)

        async def serve(self, sockets: list[socket.socket] | None = None) -> None:
            asyncio.get_running_loop().set_exception_handler(QuietAcceptErrors())
            await super().serve(sockets)

    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        http=with_head_timeout(settings.head_timeout_seconds),
        ws="none",  # no WebSocket upgrades: such a request is an ordinary (refused) one
        # The app answers every request by the end of its drain period; uvicorn's own limit,
        # which would cancel requests with a plain 500, only backs it up.
        timeout_graceful_shutdown=int(settings.drain_seconds) + 3,
        timeout_keep_alive=75,  # longer than SageMaker's 60 s idle connection reuse
        log_config=None,
        access_log=os.environ.get("WASYNC_ACCESS_LOG", "0") == "1",
    )
    Server(config).run()
    return 0


def configure_logging(level: str) -> None:
    """Plain lines on stdout; the request log's JSON lines bare, so CloudWatch reads them as
    EMF; the engines' per-file chatter (faster-whisper's "Processing audio with duration ...")
    only at DEBUG, since the request line says the same and more."""
    logging.basicConfig(level=level, format=LOG_FORMAT, stream=sys.stdout)
    requests = logging.getLogger("wasync.requests")
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    requests.addHandler(handler)
    requests.setLevel(logging.INFO)
    requests.propagate = False
    if level != "DEBUG":
        logging.getLogger("faster_whisper").setLevel(logging.WARNING)


if __name__ == "__main__":
    sys.exit(main())
