"""A test double for Grafana Loki's push endpoint, POST /loki/api/v1/push.

It stands in for a Loki distributor + ingester where Loki cannot run (no package of it
is reachable here). It is a real HTTP server on loopback and is faithful to what a
push client can observe:

- bodies: protobuf (logproto.PushRequest) compressed with snappy's block format
  (Content-Type application/x-protobuf), or JSON ({"streams": [{"stream": {...},
  "values": [["<ns>", "<line>", {metadata}]]}]}) optionally gzip-encoded;
- label sets must parse (`{name="value", ...}`, Prometheus label-name syntax, no
  duplicates, at least one pair), else the stream is refused (reason invalid_labels);
- lines longer than `max_line_size` (Loki's default 256 KiB) are refused
  (line_too_long); the other entries of the request are still written, as Loki does;
- timestamps per stream: with `ordered=False` (Loki's default unordered_writes) an entry
  older than the stream's newest minus `max_behind` (max_chunk_age / 2 = 1 h) is refused
  as too far behind; with `ordered=True` (unordered_writes: false) any older entry is
  refused as out of order;
- an entry identical (timestamp and line) to one already stored is collapsed, which is
  why at-least-once shipping shows no duplicates in Loki;
- on command it answers 429 (with Retry-After), 500 or 400 instead of accepting.

Refusals answer 400 with Loki's message formats (per entry: "entry with timestamp ...
ignored, reason: '...'", then "total ignored: N out of M").

Use in process (`with LokiDouble() as loki: ...`) or as a process:
`python tests/support/loki_double.py --port N [--ordered]`.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import ssl
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import cramjam
from sidecar.shipping.proto import push_pb2

PUSH_PATH = "/loki/api/v1/push"
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_PAIR = re.compile(r'\s*([^=\s,{}]+)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|$)')
DEFAULT_MAX_LINE = 256 * 1024
HOUR_NS = 3600 * 1_000_000_000


@dataclass(frozen=True)
class Entry:
    ts: int
    line: str
    metadata: tuple[tuple[str, str], ...] = ()


@dataclass
class Request:
    headers: dict[str, str]
    entries: int
    status: int


@dataclass
class _Stream:
    entries: list[Entry] = field(default_factory=list)
    seen: set[tuple[int, str]] = field(default_factory=set)
    newest: int = 0


def parse_labels(text: str) -> dict[str, str]:
    """Parse `{a="1", b="2"}` like Loki's label parser; ValueError says what is wrong."""
    text = text.strip()
    if not (text.startswith("{") and text.endswith("}")):
        raise ValueError("1:1: parse error: unexpected input, expected {")
    body = text[1:-1].strip()
    labels: dict[str, str] = {}
    pos = 0
    while pos < len(body):
        match = _PAIR.match(body, pos)
        if not match:
            raise ValueError(f"parse error at position {pos}: {body[pos : pos + 20]!r}")
        name, raw = match.group(1), match.group(2)
        if not LABEL_NAME.match(name):
            raise ValueError(f"invalid label name {name!r}")
        if name in labels:
            raise ValueError(f"duplicate label name {name!r}")
        labels[name] = json.loads(f'"{raw}"')
        pos = match.end()
    if not labels:
        raise ValueError("at least one label pair is required per stream")
    return labels


def _canonical(labels: dict[str, str]) -> str:
    return "{" + ", ".join(f"{k}={json.dumps(labels[k])}" for k in sorted(labels)) + "}"


def _rfc3339(ts: int) -> str:
    return datetime.fromtimestamp(ts / 1e9, tz=UTC).isoformat()


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client killed mid-request (the chaos test's SIGKILL) is not the double's error.
        return


class LokiDouble:
    def __init__(
        self,
        port: int = 0,
        *,
        ordered: bool = False,
        max_line_size: int = DEFAULT_MAX_LINE,
        max_behind_ns: int = HOUR_NS,
    ) -> None:
        self.ordered = ordered
        self.max_line_size = max_line_size
        self.max_behind_ns = max_behind_ns
        self._lock = threading.Lock()
        self._streams: dict[str, _Stream] = defaultdict(_Stream)
        self.requests: list[Request] = []
        self.collapsed = 0
        self.refused: dict[str, int] = defaultdict(int)
        self._failure: tuple[int, str, str | None] | None = None
        self._fail_count = 0
        self._server = _QuietServer(("127.0.0.1", port), self._handler())
        self._scheme = "http"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # -- lifecycle -----------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"{self._scheme}://127.0.0.1:{self.port}{PUSH_PATH}"

    def start(self) -> LokiDouble:
        self._thread.start()
        return self

    def serve_tls(self, certfile: str, keyfile: str) -> None:
        """Answer over HTTPS with this certificate (call before start)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certfile, keyfile)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._scheme = "https"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> LokiDouble:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # -- commands ------------------------------------------------------------------

    def fail(
        self,
        status: int | None,
        *,
        body: str = "",
        retry_after: str | None = None,
        count: int | None = None,
    ) -> None:
        """Answer `status` to the next `count` pushes (all, if None); None accepts again."""
        with self._lock:
            if status is None:
                self._failure = None
                return
            default = {429: "Ingestion rate limit exceeded", 500: "internal server error"}
            self._failure = (status, body or default.get(status, "bad request"), retry_after)
            self._fail_count = -1 if count is None else count

    # -- inspection ----------------------------------------------------------------

    def streams(self) -> dict[str, list[Entry]]:
        with self._lock:
            return {labels: list(s.entries) for labels, s in self._streams.items()}

    def lines(self) -> list[str]:
        return [e.line for entries in self.streams().values() for e in entries]

    # -- the push handler ------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: Any) -> None:
                return

            def do_POST(self) -> None:
                if self.path.split("?")[0] != PUSH_PATH:
                    self._answer(404, "404 page not found\n")
                    return
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                status, text, extra = double._push(dict(self.headers.items()), body)
                self._answer(status, text, extra)

            def _answer(self, status: int, text: str, extra: dict[str, str] | None = None) -> None:
                payload = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in (extra or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

        return Handler

    def _push(self, headers: dict[str, str], body: bytes) -> tuple[int, str, dict[str, str]]:
        with self._lock:
            failure = self._failure
            if failure is not None:
                if self._fail_count > 0:
                    self._fail_count -= 1
                    if self._fail_count == 0:
                        self._failure = None
                status, text, retry_after = failure
                self.requests.append(Request(headers, 0, status))
                return status, text, {"Retry-After": retry_after} if retry_after else {}
        try:
            streams = _decode(headers, body)
        except ValueError as exc:
            with self._lock:
                self.requests.append(Request(headers, 0, 400))
            return 400, f"{exc}\n", {}
        with self._lock:
            status, text = self._store(streams)
            self.requests.append(Request(headers, sum(len(e) for _, e in streams), status))
        return status, text, {}

    def _store(self, streams: list[tuple[str, list[Entry]]]) -> tuple[int, str]:
        messages: list[str] = []
        for raw_labels, entries in streams:
            try:
                labels = parse_labels(raw_labels)
            except ValueError as exc:
                self.refused["invalid_labels"] += len(entries)
                messages.append(f"Error parsing labels '{raw_labels}' with error: {exc}")
                continue
            key = _canonical(labels)
            stream = self._streams[key]
            ignored: list[str] = []
            for entry in entries:
                if any(not LABEL_NAME.match(name) for name, _ in entry.metadata):
                    self.refused["invalid_labels"] += 1
                    ignored.append(
                        f"entry with timestamp {_rfc3339(entry.ts)} ignored, "
                        "reason: 'invalid structured metadata name',"
                    )
                    continue
                if len(entry.line.encode()) > self.max_line_size:
                    self.refused["line_too_long"] += 1
                    messages.append(
                        f"Max entry size '{self.max_line_size}' bytes exceeded for stream "
                        f"'{key}' while adding an entry with length "
                        f"'{len(entry.line.encode())}' bytes"
                    )
                    continue
                identity = (entry.ts, entry.line)
                if identity in stream.seen:
                    self.collapsed += 1
                    continue
                if self.ordered and entry.ts < stream.newest:
                    self.refused["out_of_order"] += 1
                    ignored.append(
                        f"entry with timestamp {_rfc3339(entry.ts)} ignored, "
                        "reason: 'entry out of order',"
                    )
                    continue
                if not self.ordered and entry.ts < stream.newest - self.max_behind_ns:
                    self.refused["too_far_behind"] += 1
                    ignored.append(
                        f"entry with timestamp {_rfc3339(entry.ts)} ignored, reason: 'entry "
                        f"too far behind, entry timestamp is: {_rfc3339(entry.ts)}, oldest "
                        f"acceptable timestamp is: {_rfc3339(stream.newest - self.max_behind_ns)}',"
                    )
                    continue
                stream.seen.add(identity)
                stream.entries.append(entry)
                stream.newest = max(stream.newest, entry.ts)
            if ignored:
                messages.extend(ignored)
                messages.append(
                    f"total ignored: {len(ignored)} out of {len(entries)} for stream: {key}"
                )
        if messages:
            return 400, "\n".join(messages) + "\n"
        return 204, ""


def _decode(headers: dict[str, str], body: bytes) -> list[tuple[str, list[Entry]]]:
    lowered = {k.lower(): v for k, v in headers.items()}
    content_type = lowered.get("content-type", "").split(";")[0].strip()
    if lowered.get("content-encoding", "").lower() == "gzip":
        try:
            body = gzip.decompress(body)
        except OSError as exc:
            raise ValueError(f"gzip: {exc}") from exc
    if content_type == "application/x-protobuf":
        try:
            raw = bytes(cramjam.snappy.decompress_raw(body))
        except cramjam.DecompressionError as exc:
            raise ValueError(f"snappy: {exc}") from exc
        request = push_pb2.PushRequest()
        try:
            request.ParseFromString(raw)
        except Exception as exc:  # protobuf's DecodeError
            raise ValueError(f"proto: {exc}") from exc
        return [
            (
                stream.labels,
                [
                    Entry(
                        e.timestamp.seconds * 1_000_000_000 + e.timestamp.nanos,
                        e.line,
                        tuple((p.name, p.value) for p in e.structuredMetadata),
                    )
                    for e in stream.entries
                ],
            )
            for stream in request.streams
        ]
    if content_type == "application/json":
        try:
            payload = json.loads(body)
            return [
                (
                    _canonical(stream["stream"]),
                    [
                        Entry(int(v[0]), v[1], tuple(sorted((v[2] if len(v) > 2 else {}).items())))
                        for v in stream["values"]
                    ],
                )
                for stream in payload["streams"]
            ]
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            raise ValueError(f"unmarshal JSON: {exc}") from exc
    raise ValueError(f"unsupported Content-Type {content_type!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description="Loki push API test double")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ordered", action="store_true")
    args = parser.parse_args()
    double = LokiDouble(args.port, ordered=args.ordered)
    print(f"loki double listening on {double.url}", flush=True)
    double._server.serve_forever()


if __name__ == "__main__":
    main()
