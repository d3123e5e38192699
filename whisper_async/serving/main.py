"""`wasync-serve serve`: the container's entry point (SageMaker runs `docker run IMAGE serve`)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wasync-serve", description="wasync's serving container")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve /ping and /invocations")
    serve.add_argument("--host", default=os.environ.get("WASYNC_BIND_HOST", "0.0.0.0"))  # noqa: S104 - the container's contract
    serve.add_argument(
        "--port", type=int, default=int(os.environ.get("SAGEMAKER_BIND_TO_PORT", "8080"))
    )
    serve.add_argument("--model-dir", default=None, help="overrides WASYNC_MODEL_DIR")
    serve.add_argument(
        "--shutdown-grace",
        type=float,
        default=os.environ.get("WASYNC_SHUTDOWN_GRACE", "25"),  # argparse applies `type`
        help="seconds in-flight requests get to finish after SIGTERM (WASYNC_SHUTDOWN_GRACE)",
    )
    sub.add_parser("train", help="not supported: this image only serves")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "train":
        print(
            "wasync-serve: this image serves Whisper for inference only; training is not "
            "supported. SageMaker should run it with `serve`.",
            file=sys.stderr,
        )
        return 2
    logging.basicConfig(
        level=os.environ.get("WASYNC_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stdout,
    )
    import uvicorn

    from .app import ServerSettings, create_app

    if args.model_dir:
        os.environ["WASYNC_MODEL_DIR"] = args.model_dir
    settings = ServerSettings.from_env()

    def load() -> object:
        from .engines import load_engine

        return load_engine(settings.model_dir)

    app = create_app(settings, load)  # type: ignore[arg-type]
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        timeout_graceful_shutdown=args.shutdown_grace,  # SIGTERM: finish in-flight work, then exit
        timeout_keep_alive=75,  # longer than SageMaker's 60 s idle connection reuse
        log_config=None,
        access_log=os.environ.get("WASYNC_ACCESS_LOG", "0") == "1",
    )
    uvicorn.Server(config).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
