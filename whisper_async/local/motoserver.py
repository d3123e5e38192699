"""moto server for the local stack, behind a guard that answers only the stack's own clients.

moto answers any web origin (it reflects `Origin` in Access-Control-Allow-Origin) and serves an
admin API under /moto-api/: a web page that found the port could reset every bucket with one
"simple" POST, or write a file into the daemon's working folder through the recorder. boto3,
the AWS CLI and the SDK never send `Origin`, and the stack itself needs only `GET /moto-api/`
(is moto up?), so a request with an `Origin`, or to any other admin path, is refused with 403.

A page can also reach it under a name of its own that it points at 127.0.0.1 (DNS rebinding):
then the browser counts the page as same-origin and sends no `Origin` with a GET, and moto
reads the bucket from the name's first label. So a request must name this machine in `Host`:
127.0.0.1, localhost, ::1, or a name under .localhost, which no DNS outside it can answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from moto.server import ThreadedMotoServer

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
ADMIN_PREFIX = "/moto-api/"


WEB_PAGES_REFUSED = "the local stack does not answer web pages (a request with an Origin header)"


OTHER_HOST_REFUSED = (
    "the local stack answers only requests to 127.0.0.1 or localhost (a request for {host!r})"
)
LOCAL_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})


def names_this_machine(host: str) -> bool:
    """True for a Host header (port or not) that names this machine: never a name that DNS
    outside it answers, which a web page could point here."""
    name = host[1 : host.find("]")] if host.startswith("[") else host.partition(":")[0]
    name = name.lower().rstrip(".")
    return not host or name in LOCAL_NAMES or name.endswith(".localhost")


def web_page_refusal(has_origin: bool, host: str) -> str | None:
    """Why a request that may come from a web page is refused (the moto server's and the
    emulator's rule); None when it comes from a client on this machine."""
    if has_origin:
        return WEB_PAGES_REFUSED
    if not names_this_machine(host):
        return OTHER_HOST_REFUSED.format(host=host[:100])
    return None


def refusal(environ: dict[str, Any]) -> str | None:
    """Why the stack refuses this request; None to serve it."""
    refused = web_page_refusal(bool(environ.get("HTTP_ORIGIN")), environ.get("HTTP_HOST", ""))
    if refused:
        return refused
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
