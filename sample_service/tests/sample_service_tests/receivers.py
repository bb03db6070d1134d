"""Local HTTP receivers that record what the service sends them.

OtlpHttpReceiver stands in for an OpenTelemetry Collector's OTLP/HTTP receiver: it
accepts POST /v1/traces with a protobuf ExportTraceServiceRequest (gzip or not) and
answers 200 with an empty ExportTraceServiceResponse, as the OTLP spec requires.

SentryReceiver stands in for a Sentry (or Relay) ingest endpoint: it accepts the SDK's
POST /api/<project_id>/envelope/ (gzip or brotli encoded) and answers 200.
"""

from __future__ import annotations

import gzip
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

import cramjam


class _Recorder(BaseHTTPRequestHandler):
    server: _RecordingServer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        encoding = self.headers.get("Content-Encoding", "")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "br":
            body = bytes(cramjam.brotli.decompress(body))
        with self.server.lock:
            headers = {key.lower(): value for key, value in self.headers.items()}
            self.server.requests.append((self.path, headers, body))
        self.send_response(200)
        self.send_header("Content-Type", self.server.reply_type)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


class _RecordingServer(ThreadingHTTPServer):
    def __init__(self, reply_type: str) -> None:
        super().__init__(("127.0.0.1", 0), _Recorder)
        self.reply_type = reply_type
        self.lock = threading.Lock()
        self.requests: list[tuple[str, dict[str, str], bytes]] = []


class _Receiver:
    reply_type = "application/json"

    def __init__(self) -> None:
        self._server = _RecordingServer(self.reply_type)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def requests(self) -> list[tuple[str, dict[str, str], bytes]]:
        with self._server.lock:
            return list(self._server.requests)

    def __enter__(self) -> _Receiver:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()


class OtlpHttpReceiver(_Receiver):
    reply_type = "application/x-protobuf"


class SentryReceiver(_Receiver):
    pass
