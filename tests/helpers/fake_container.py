"""A stand-in serving container for the local stack's hosting tests: a real process that
speaks the container contract (/ping, /invocations) with no model, so tests run in seconds.

Run as `python fake_container.py PORT`. Its behaviour comes from the environment (the
model's `Environment`, as a real container's would):
- FAKE_GATE: a file path; while that file exists, every /invocations waits (a job "runs");
- FAKE_EXIT: exit with this code at start instead of serving (a model that cannot load).
GET /stats answers {"running", "peak", "served"}: how many invocations run now, the most that
ran at once, and how many finished.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

LOCK = threading.Lock()
STATS = {"running": 0, "peak": 0, "served": 0}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        print(format % args, flush=True)

    def _answer(self, status: int, payload: dict[str, object]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/ping":
            self._answer(200, {"status": "ready"})
        elif self.path == "/stats":
            with LOCK:
                self._answer(200, dict(STATS))
        else:
            self._answer(404, {"error": "not_found"})

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with LOCK:
            STATS["running"] += 1
            STATS["peak"] = max(STATS["peak"], STATS["running"])
        gate = os.environ.get("FAKE_GATE")
        while gate and Path(gate).exists():
            time.sleep(0.01)  # a fake's job: it "runs" until the test opens the gate
        with LOCK:
            STATS["running"] -= 1
            STATS["served"] += 1
        self._answer(200, {"echo": body.decode("utf-8", "replace"), "pid": os.getpid()})


def main() -> int:
    if os.environ.get("FAKE_EXIT"):
        print("fake container: exiting as asked", flush=True)
        return int(os.environ["FAKE_EXIT"])
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    server.daemon_threads = True
    print("fake container: serving", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
