"""moto server for the local stack, behind a guard that answers only the stack's own clients.

moto answers any web origin (it reflects `Origin` in Access-Control-Allow-Origin) and serves an
admin API under /moto-api/: a web page that found the port could reset every bucket with one
"simple" POST, or write a file into the daemon's working folder through the recorder. boto3,
the AWS CLI and the SDK never send `Origin`, and the stack itself needs only `GET /moto-api/`
(is moto up?), so a request with an `Origin`, or to any other admin path, is refused with 403.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from moto.server import ThreadedMotoServer

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
ADMIN_PREFIX = "/moto-api/"


WEB_PAGES_REFUSED = "the local stack does not answer web pages (a request with an Origin header)"


def refusal(environ: dict[str, Any]) -> str | None:
    """Why the stack refuses this request; None to serve it."""
    if environ.get("HTTP_ORIGIN"):
        return WEB_PAGES_REFUSED
    path = environ.get("PATH_INFO", "")
    if path.startswith(ADMIN_PREFIX) and (
        path != ADMIN_PREFIX or environ["REQUEST_METHOD"] != "GET"
    ):
        return f"moto's admin API ({path}) is closed in the local stack"
    return None


def guarded(app: WsgiApp) -> WsgiApp:
    def serve(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        reason = refusal(environ)
        if reason is None:
            return app(environ, start_response)
        body = reason.encode()
        start_response(
            "403 Forbidden",
            [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))],
        )
        return [body]

    return serve


class GuardedMotoServer(ThreadedMotoServer):
    """ThreadedMotoServer with its app behind `guarded`. The app is swapped once the server
    is up, before the stack publishes its address (stack.json): nobody has asked it anything
    yet. werkzeug's server reads `app` on every request."""

    def start(self) -> None:
        super().start()
        assert self._server is not None
        self._server.app = guarded(self._server.app)
