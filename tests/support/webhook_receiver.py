"""A stand-in for whatever an Alertmanager webhook would reach (a pager, a chat bridge).

It speaks Alertmanager's webhook protocol (version 4): each notification is one
JSON POST, to any path, with `status`, `receiver`, `groupLabels`, `alerts`...
It answers 200 and records the payload, adding `_received_at` (Unix time) and
`_path` (the request path) so tests can time and tell receivers apart. A body
that is not a JSON object is answered 400 and counted in `malformed`, never
stored as a notification.

    GET    /alerts   the recorded notifications, oldest first (JSON list)
    DELETE /alerts   forget them
    GET    /healthz  200 "ok"

In process: `with WebhookReceiver() as hook: ... hook.url ... hook.wait_for(pred)`.
Standalone: `python tests/support/webhook_receiver.py --port 9095`.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Notification = dict[str, Any]


class _Store:
    def __init__(self) -> None:
        # Re-entrant: a wait_for predicate may read `notifications` itself.
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._notifications: list[Notification] = []
        self.malformed = 0

    def add(self, notification: Notification) -> None:
        with self._changed:
            self._notifications.append(notification)
            self._changed.notify_all()

    def count_malformed(self) -> None:
        with self._lock:
            self.malformed += 1

    def snapshot(self) -> list[Notification]:
        with self._lock:
            return list(self._notifications)

    def clear(self) -> None:
        with self._lock:
            self._notifications.clear()

    def wait(self, predicate: Callable[[list[Notification]], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(list(self._notifications)):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
            return True


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read the store, not the access log."""

    def _reply(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            payload = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            payload, error = None, f"body is not JSON: {exc}"
        else:
            error = None if isinstance(payload, dict) else "body is not a JSON object"
        if error is not None:
            self.server.store.count_malformed()
            self._reply(400, json.dumps({"error": error}).encode())
            return
        payload["_received_at"] = time.time()
        payload["_path"] = self.path
        self.server.store.add(payload)
        self._reply(200, b"{}")

    def do_GET(self) -> None:
        if self.path == "/alerts":
            self._reply(200, json.dumps(self.server.store.snapshot()).encode())
        elif self.path == "/healthz":
            self._reply(200, b"ok", "text/plain")
        else:
            self._reply(404, b'{"error": "not found"}')

    def do_DELETE(self) -> None:
        if self.path == "/alerts":
            self.server.store.clear()
            self._reply(200, b"{}")
        else:
            self._reply(404, b'{"error": "not found"}')


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, _Handler)
        self.store = _Store()


class WebhookReceiver:
    """Records Alertmanager webhook notifications on a loopback port."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = _Server((host, port))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/alerts"

    @property
    def notifications(self) -> list[Notification]:
        return self._server.store.snapshot()

    @property
    def malformed(self) -> int:
        return self._server.store.malformed

    def wait_for(
        self, predicate: Callable[[list[Notification]], bool], timeout: float = 60.0
    ) -> bool:
        """Block until `predicate(notifications)` holds; False after `timeout` seconds."""
        return self._server.store.wait(predicate, timeout)

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="Record Alertmanager webhook notifications.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9095)
    args = parser.parse_args()
    server = _Server((args.host, args.port))
    print(f"recording webhook notifications on http://{args.host}:{args.port}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
