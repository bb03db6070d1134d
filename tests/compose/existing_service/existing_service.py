"""Stand-in for "an existing service": the kind attach mode is for (tests only).

A small HTTP API with health endpoints, speaking plain HTTP/1.1 through the
standard library like any service would. It comes in the two shapes attach mode
must serve:

- without `--metrics` (orders): NO /metrics; all it offers an observer is an
  nginx-style access log (combined format with $request_time appended, in
  seconds) written to ACCESS_LOG, and its health URL;
- with `--metrics` (billing): an instrumented service: /metrics serves
  http_server_request_duration_seconds (the telemetry contract's names and
  buckets, contract/README.md) in the Prometheus text format, and its
  application log (APP_LOG, text) carries a Python traceback, written by
  Python's logging, for every failed request.

    GET /healthz            200 {"status": "pass"}
    GET /<resource>/<id>    200 (ids divisible by FAIL_EVERY answer 500, to have errors)
    GET /metrics            with --metrics only
    anything else           404
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)
_LOCK = threading.Lock()
# (method, route, status) -> [bucket counts..., count, sum]
_HISTOGRAM: dict[tuple[str, str, int], list[float]] = defaultdict(
    lambda: [0.0] * (len(BUCKETS) + 2)
)
_app_log = logging.getLogger("existing-service")


class StoreUnavailable(RuntimeError):
    pass


class Handler(BaseHTTPRequestHandler):
    server_version = "stand-in/1.0"
    protocol_version = "HTTP/1.1"
    resource = "orders"
    fail_every = 7
    metrics = False

    def log_message(self, format: str, *args: object) -> None:
        """The access log below replaces http.server's stderr line."""

    def do_GET(self) -> None:
        started = time.monotonic()
        path = self.path.split("?", 1)[0]
        if path == "/metrics" and self.metrics:
            self._send(200, _exposition().encode(), "text/plain; version=0.0.4")
            return
        status, route, body = self._route(path)
        self._send(status, json.dumps(body).encode(), "application/json")
        seconds = time.monotonic() - started
        if self.metrics:
            _observe("GET", route, status, seconds)
        else:
            self._access_log(status, len(json.dumps(body)), seconds)

    def _send(self, status: int, payload: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _route(self, path: str) -> tuple[int, str, dict[str, object]]:
        if path == "/healthz":
            return 200, "/healthz", {"status": "pass"}
        parts = path.strip("/").split("/")
        if len(parts) == 2 and parts[0] == self.resource and parts[1].isdigit():
            route = f"/{self.resource}/{{id}}"
            number = int(parts[1])
            try:
                if number % self.fail_every == 0:
                    raise StoreUnavailable(f"{self.resource} store unavailable for {number}")
            except StoreUnavailable:
                _app_log.exception("GET %s failed", path)
                return 500, route, {"error": "store unavailable"}
            return 200, route, {"id": number, "state": "ok"}
        return 404, "unmatched", {"error": "not found"}

    def _access_log(self, status: int, size: int, seconds: float) -> None:
        stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime())
        agent = self.headers.get("User-Agent", "-").replace('"', "'")
        line = (
            f'{self.client_address[0]} - - [{stamp}] "{self.command} {self.path} '
            f'{self.request_version}" {status} {size} "-" "{agent}" {seconds:.3f}\n'
        )
        with _LOCK, open(os.environ["ACCESS_LOG"], "a", encoding="utf-8") as log:
            log.write(line)


def _observe(method: str, route: str, status: int, seconds: float) -> None:
    with _LOCK:
        cells = _HISTOGRAM[(method, route, status)]
        for index, bound in enumerate(BUCKETS):
            if seconds <= bound:
                cells[index] += 1
        cells[-2] += 1
        cells[-1] += seconds


def _exposition() -> str:
    name = "http_server_request_duration_seconds"
    lines = [f"# HELP {name} Duration of HTTP server requests.", f"# TYPE {name} histogram"]
    with _LOCK:
        for (method, route, status), cells in sorted(_HISTOGRAM.items()):
            labels = (
                f'http_request_method="{method}",http_route="{route}",'
                f'http_response_status_code="{status}"'
            )
            for index, bound in enumerate(BUCKETS):
                lines.append(f'{name}_bucket{{{labels},le="{float(bound)}"}} {cells[index]}')
            lines.append(f'{name}_bucket{{{labels},le="+Inf"}} {cells[-2]}')
            lines.append(f"{name}_count{{{labels}}} {cells[-2]}")
            lines.append(f"{name}_sum{{{labels}}} {cells[-1]}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--resource", default="orders")
    parser.add_argument("--fail-every", type=int, default=7)
    parser.add_argument("--metrics", action="store_true")
    args = parser.parse_args()
    Handler.resource, Handler.fail_every, Handler.metrics = (
        args.resource,
        args.fail_every,
        args.metrics,
    )
    if os.environ.get("APP_LOG"):
        handler = logging.FileHandler(os.environ["APP_LOG"], encoding="utf-8")
        formatter = logging.Formatter(
            "%(asctime)s.%(msecs)03dZ %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S"
        )
        formatter.converter = time.gmtime
        handler.setFormatter(formatter)
        _app_log.addHandler(handler)
        _app_log.setLevel(logging.INFO)
        _app_log.info("serving /%s on port %d", args.resource, args.port)
    ThreadingHTTPServer((args.host, args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
