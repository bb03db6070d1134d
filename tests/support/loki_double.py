"""A test double for Grafana Loki's push endpoint, POST /loki/api/v1/push.

It stands in for a Loki distributor + ingester where a test needs what the real Loki
cannot be told to do: answer 429 (with Retry-After), 500 or a given 400 on command, or
fail a set number of pushes. Everything else a push client can observe follows the
real Loki (the build in ../shared/env/bin, with loki/loki.yaml's limits), and
tests/loki/test_loki_double_fidelity.py sends the same pushes to both and compares the
answers and what was stored:

- bodies: protobuf (logproto.PushRequest) compressed with snappy's block format
  (Content-Type application/x-protobuf), or JSON ({"streams": [{"stream": {...},
  "values": [["<ns>", "<line>", {metadata}]]}]}) optionally gzip-encoded; a body that
  does not decode is a 400 and stores nothing;
- a label set that does not parse refuses the whole request ("couldn't parse labels:
  ..."), nothing of it is stored; a stream without service_name gets one from the
  first of Loki's discover_service_name labels it has, else `unknown_service`;
- per entry, as Loki's distributor checks them, in this order: older than
  `max_age_ns` is refused as greater_than_max_sample_age (loki.yaml's
  reject_old_samples_max_age is MAX_AGE_NS, 168 h; off unless given, so that a test can
  use small fixed timestamps), newer than now + 10 min (creation_grace_period) as
  too_far_in_future, a line longer than `max_line_size` (256 KiB) as line_too_long;
  identical messages are grouped ("2 errors like: ...; 1 errors like: ..."); the other
  entries of the request are still written;
- structured metadata names are sanitized as Loki does ("trace-id" -> "trace_id");
- per stream, as the ingester does: an entry older than the stream's newest minus
  `max_behind_ns` (max_chunk_age / 2 = 1 h) is refused as too far behind (at most 10
  listed, then "user 'fake', total ignored: N out of M for stream: ..."); an entry
  identical to one stored (timestamp, line and metadata) is collapsed, which is why
  at-least-once shipping shows no duplicates in Loki;
- one push answers with the ingester's verdict on its *last* stream when the ingester
  refused anything there, else with the distributor's grouped errors, else 204: like
  Loki, a refusal in an earlier stream of a request can go unreported, and the
  distributor's refusals are not reported when the ingester refuses something too.

Not modelled: rate limits (use `fail(429)`), the detected_level metadata Loki adds,
queries. `ordered=True` models the removed `unordered_writes: false` (Loki 3.7 and
older), which the real Loki here cannot be set to, so it is not checked against it.

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
import time
from collections import Counter, defaultdict
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
MAX_AGE_NS = 168 * HOUR_NS
GRACE_NS = 10 * 60 * 1_000_000_000
# Loki lists at most this many refused entries per stream (max_returned_stream_errors).
MAX_LISTED = 10
# limits_config.discover_service_name, in Loki's order.
DISCOVER_SERVICE_NAME = (
    "service",
    "app",
    "application",
    "app_name",
    "name",
    "app_kubernetes_io_name",
    "container",
    "container_name",
    "k8s_container_name",
    "component",
    "workload",
    "job",
    "k8s_job_name",
)
_INVALID_NAME_CHARS = re.compile(r"[^a-zA-Z0-9_]")


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
    seen: set[tuple[int, str, tuple[tuple[str, str], ...]]] = field(default_factory=set)
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
    """Go's time.RFC3339 in UTC (whole seconds), as Loki formats times in its messages."""
    return datetime.fromtimestamp(ts // 1_000_000_000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _go_time(ts: int) -> str:
    """Go's time.Time.String() in UTC: "2006-01-02 15:04:05.999999999 +0000 UTC"."""
    seconds, nanos = divmod(ts, 1_000_000_000)
    text = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
    fraction = f".{nanos:09d}".rstrip("0") if nanos else ""
    return f"{text}{fraction} +0000 UTC"


def _loki_labels(labels: dict[str, str]) -> str:
    """Prometheus' labels.String(): sorted, `name="value"` with Go string quoting."""
    return "{" + ", ".join(f"{k}={json.dumps(labels[k])}" for k in sorted(labels)) + "}"


def _sanitized(name: str) -> str:
    """Loki's structured-metadata name normalisation (Prometheus' OTLP label namer)."""
    name = _INVALID_NAME_CHARS.sub("_", name)
    return f"key_{name}" if name[:1].isdigit() else name


def _discover_service_name(labels: dict[str, str]) -> dict[str, str]:
    if "service_name" in labels:
        return labels
    found = next((labels[n] for n in DISCOVER_SERVICE_NAME if n in labels), "unknown_service")
    return {**labels, "service_name": found}


def _grouped(errors: list[str]) -> str:
    """dskit's GroupedErrors: identical messages counted, joined by "; "."""
    counts = Counter(errors)
    if len(counts) == 1 and next(iter(counts.values())) == 1:
        return errors[0]
    return "; ".join(f"{n} errors like: {message}" for message, n in counts.items())


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
        max_age_ns: int | None = None,
    ) -> None:
        self.ordered = ordered
        self.max_line_size = max_line_size
        self.max_behind_ns = max_behind_ns
        self.max_age_ns = max_age_ns
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
            tenant = {k.lower(): v for k, v in headers.items()}.get("x-scope-orgid", "fake")
            status, text = self._store(streams, tenant)
            self.requests.append(Request(headers, sum(len(e) for _, e in streams), status))
        return status, text, {}

    def _store(
        self, streams: list[tuple[str, list[Entry]]], tenant: str = "fake"
    ) -> tuple[int, str]:
        parsed: list[tuple[dict[str, str], list[Entry]]] = []
        for raw_labels, entries in streams:
            try:
                labels = parse_labels(raw_labels) if raw_labels.strip() != "{}" else {}
            except ValueError as exc:
                self.refused["invalid_labels"] += sum(len(e) for _, e in streams)
                return 400, f"couldn't parse labels: {exc}\n"
            parsed.append((_discover_service_name(labels), entries))

        now = time.time_ns()
        validation: list[str] = []
        accepted: list[tuple[dict[str, str], list[Entry]]] = []
        for labels, entries in parsed:
            rendered = _loki_labels(labels)
            kept = []
            for entry in entries:
                error = self._validate(entry, rendered, now)
                if error is None:
                    kept.append(
                        Entry(
                            entry.ts,
                            entry.line,
                            tuple((_sanitized(k), v) for k, v in entry.metadata),
                        )
                    )
                else:
                    validation.append(error)
            if kept:
                accepted.append((labels, kept))

        verdict: str | None = None
        for labels, entries in accepted:
            verdict = self._append(_canonical(labels), _loki_labels(labels), entries, tenant)
        if verdict is not None:
            return 400, verdict + "\n"
        if validation:
            return 400, _grouped(validation) + "\n"
        return 204, ""

    def _validate(self, entry: Entry, labels: str, now: int) -> str | None:
        """The distributor's per-entry checks; the refusal message, or None."""
        if self.max_age_ns is not None and entry.ts < now - self.max_age_ns:
            self.refused["greater_than_max_sample_age"] += 1
            return (
                f"entry for stream '{labels}' has timestamp too old: {_rfc3339(entry.ts)}, "
                f"oldest acceptable timestamp is: {_rfc3339(now - self.max_age_ns)}"
            )
        if entry.ts > now + GRACE_NS:
            self.refused["too_far_in_future"] += 1
            return f"entry for stream '{labels}' has timestamp too new: {_rfc3339(entry.ts)}"
        size = len(entry.line.encode())
        if size > self.max_line_size:
            self.refused["line_too_long"] += 1
            return (
                f"max entry size '{self.max_line_size}' bytes exceeded for stream '{labels}' "
                f"while adding an entry with length '{size}' bytes"
            )
        return None

    def _append(self, key: str, labels: str, entries: list[Entry], tenant: str) -> str | None:
        """The ingester's append to one stream; its refusal message, or None."""
        stream = self._streams[key]
        ignored: list[str] = []
        for entry in entries:
            identity = (entry.ts, entry.line, entry.metadata)
            if identity in stream.seen:
                self.collapsed += 1
                continue
            if self.ordered and entry.ts < stream.newest:
                self.refused["out_of_order"] += 1
                ignored.append(
                    f"entry with timestamp {_go_time(entry.ts)} ignored, "
                    "reason: 'entry out of order',"
                )
                continue
            cutoff = stream.newest - self.max_behind_ns
            if not self.ordered and stream.newest and entry.ts < cutoff:
                self.refused["too_far_behind"] += 1
                ignored.append(
                    f"entry with timestamp {_go_time(entry.ts)} ignored, reason: 'entry "
                    f"too far behind, entry timestamp is: {_rfc3339(entry.ts)}, oldest "
                    f"acceptable timestamp is: {_rfc3339(cutoff)}',"
                )
                continue
            stream.seen.add(identity)
            stream.entries.append(entry)
            stream.newest = max(stream.newest, entry.ts)
        if not ignored:
            return None
        listed = "\n".join(ignored[:MAX_LISTED])
        return (
            f"{listed}\nuser '{tenant}', total ignored: {len(ignored)} out of "
            f"{len(entries)} for stream: {labels}"
        )


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
