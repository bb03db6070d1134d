"""Stands in for an OpenTelemetry Collector's OTLP/HTTP receiver during the benchmark:
accepts POST /v1/traces and answers 200 with an empty protobuf body over HTTP/1.1 with
keep-alive, as the Collector does, so the exporter's pooled connection is reused and an
export does not pay a TCP connect (HTTP/1.0 would close after every answer and make small
batches look costlier than they are against a real Collector). Run as its own process so
the service really serialises and ships its spans. GET /stats returns
{"connections": N, "exports": M}, so the bench can show the connection was reused."""

from __future__ import annotations

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Counts:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.connections = 0
        self.exports = 0


_COUNTS = _Counts()


class _Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        with _COUNTS.lock:
            _COUNTS.connections += 1

    def do_POST(self) -> None:
        length = self.headers.get("Content-Length")
        if length is None:
            # The OTLP exporter always sends a length; without one the body's end is
            # unknown, so the connection cannot be kept.
            self.close_connection = True
            self._answer(411, "text/plain", b"Content-Length required")
            return
        self.rfile.read(int(length))
        with _COUNTS.lock:
            _COUNTS.exports += 1
        self._answer(200, "application/x-protobuf", b"")

    def do_GET(self) -> None:
        if self.path != "/stats":
            self._answer(404, "text/plain", b"not found")
            return
        with _COUNTS.lock:
            stats = {"connections": _COUNTS.connections, "exports": _COUNTS.exports}
        self._answer(200, "application/json", json.dumps(stats).encode())

    def _answer(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    ThreadingHTTPServer(("127.0.0.1", args.port), _Sink).serve_forever()


if __name__ == "__main__":
    main()
