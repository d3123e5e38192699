"""uvicorn's HTTP/1.1 protocol, with its one plain-text answer made JSON like every other.

uvicorn answers a request it cannot parse (a malformed request line, bad headers, a header
block that grows past 16 KiB before it ends) with a plain-text 400 before any application code runs. This subclass sends
the same 400 with the server's JSON error body instead.
"""

from __future__ import annotations

import json

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

MALFORMED_MESSAGE = (
    "the request is not valid HTTP/1.1 (a malformed request line or header); send "
    "POST /invocations with the audio as the body"
)


def json_error_body(code: str, message: str) -> bytes:
    return json.dumps({"error": code, "message": message}).encode("utf-8")


class JsonErrorH11Protocol(H11Protocol):
    def send_400_response(self, msg: str) -> None:
        body = json_error_body("bad_request", MALFORMED_MESSAGE)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode("ascii")),
            (b"connection", b"close"),
        ]
        for event in (
            h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event))
        self.transport.close()
