"""Stand-in for "an existing service": the kind attach mode is for (tests only).

A small HTTP API with health endpoints and NO /metrics: all it offers an
observer is an nginx-style access log (combined format with $request_time
appended, in seconds) written to ACCESS_LOG, and its health URLs. It speaks
plain HTTP/1.1 through the standard library, like any service would.

    GET /healthz        200 {"status": "pass"}
    GET /orders/<id>    200 an order (ids divisible by 7 answer 500, to have errors)
    anything else       404 (including /metrics)
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_LOG_LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    server_version = "orders/1.0"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        """The access log below replaces http.server's stderr line."""

    def do_GET(self) -> None:
        started = time.monotonic()
        status, body = self._route()
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        self._access_log(status, len(payload), time.monotonic() - started)

    def _route(self) -> tuple[int, dict[str, object]]:
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            return 200, {"status": "pass"}
        parts = path.strip("/").split("/")
        if len(parts) == 2 and parts[0] == "orders" and parts[1].isdigit():
            order = int(parts[1])
            if order % 7 == 0:
                return 500, {"error": "order store unavailable"}
            return 200, {"id": order, "state": "shipped"}
        return 404, {"error": "not found"}

    def _access_log(self, status: int, size: int, seconds: float) -> None:
        stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime())
        agent = self.headers.get("User-Agent", "-").replace('"', "'")
        line = (
            f'{self.client_address[0]} - - [{stamp}] "{self.command} {self.path} '
            f'{self.request_version}" {status} {size} "-" "{agent}" {seconds:.3f}\n'
        )
        with _LOG_LOCK, open(os.environ["ACCESS_LOG"], "a", encoding="utf-8") as log:
            log.write(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args()
    ThreadingHTTPServer((args.host, args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
