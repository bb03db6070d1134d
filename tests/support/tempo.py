"""The real Tempo, run from the repository's `tempo/tempo.yaml`, and the reads tests make of it.

`tempo(workdir)` starts the `tempo` binary on free loopback ports (HTTP API, gRPC,
OTLP/gRPC and OTLP/HTTP receivers) with a data directory under `workdir`, waits until
`/ready` says ready, and stops it on exit. The config file is the one compose mounts,
adapted only through `-config.expand-env=true` (the TEMPO_* variables it documents) and
`-server.http-listen-port`. Its metrics-generator remote-writes to `remote_write_url`
(a real Prometheus with the remote-write receiver on, in the tests that read it).

`TempoClient` works against any Tempo URL (the compose one too): a trace by id, and
TraceQL search. A missing binary is a skip that names the install command (a failure
under OBS_STRICT=1, see conftest.py).
"""

from __future__ import annotations

import base64
import binascii
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.processes import free_port, require_binary

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "tempo" / "tempo.yaml"
INSTALL = "bash ../shared/env/install-loki-tempo"


class TempoError(AssertionError):
    """Tempo answered with an unexpected status."""


@dataclass(frozen=True)
class Span:
    """One span of a trace read back from Tempo, ids in lowercase hex."""

    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    kind: str
    service_name: str
    attributes: Mapping[str, Any]
    resource: Mapping[str, Any]


def _hex(value: str) -> str:
    """Tempo's JSON carries ids as hex or as base64 of the bytes; always return hex."""
    if not value:
        return ""
    try:
        int(value, 16)
        if len(value) in (16, 32):
            return value.lower()
    except ValueError:
        pass
    try:
        return base64.b64decode(value, validate=True).hex()
    except (binascii.Error, ValueError):
        return value.lower()


def _value(any_value: Mapping[str, Any]) -> Any:
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in any_value:
            return any_value[key]
    if "intValue" in any_value:
        return int(any_value["intValue"])
    if "arrayValue" in any_value:
        return [_value(v) for v in any_value["arrayValue"].get("values", [])]
    return None


def _attributes(items: list[Mapping[str, Any]] | None) -> dict[str, Any]:
    return {item["key"]: _value(item.get("value", {})) for item in items or []}


def spans_of(trace: Mapping[str, Any]) -> list[Span]:
    """Flatten an OTLP-JSON trace ({"resourceSpans"|"batches": [...]}) into spans."""
    batches = trace.get("resourceSpans") or trace.get("batches") or []
    spans: list[Span] = []
    for batch in batches:
        resource = _attributes(batch.get("resource", {}).get("attributes"))
        for scope in batch.get("scopeSpans") or batch.get("instrumentationLibrarySpans") or []:
            for span in scope.get("spans", []):
                spans.append(
                    Span(
                        trace_id=_hex(span.get("traceId", "")),
                        span_id=_hex(span.get("spanId", "")),
                        parent_span_id=_hex(span.get("parentSpanId", "")),
                        name=span.get("name", ""),
                        kind=str(span.get("kind", "")),
                        service_name=str(resource.get("service.name", "")),
                        attributes=_attributes(span.get("attributes")),
                        resource=resource,
                    )
                )
    return spans


class TempoClient:
    """Reads traces through Tempo's HTTP API at `url`."""

    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def trace(self, trace_id: str) -> list[Span] | None:
        """The spans of `trace_id` (hex), or None while Tempo does not know it."""
        response = httpx.get(
            f"{self.url}/api/v2/traces/{trace_id}",
            headers={"Accept": "application/json"},
            timeout=self.timeout,
        )
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise TempoError(f"trace {trace_id}: HTTP {response.status_code}: {response.text}")
        body = response.json()
        spans = spans_of(body.get("trace", body))
        return spans or None

    def wait_for_trace(
        self, trace_id: str, *, timeout: float = 60.0, min_spans: int = 1
    ) -> list[Span]:
        deadline = time.monotonic() + timeout
        spans: list[Span] | None = None
        while time.monotonic() < deadline:
            spans = self.trace(trace_id)
            if spans is not None and len(spans) >= min_spans:
                return spans
            time.sleep(0.5)
        pytest.fail(f"trace {trace_id} not in Tempo after {timeout}s (last: {spans})")

    def search(
        self, traceql: str, start_s: int, end_s: int, *, limit: int = 20
    ) -> list[dict[str, Any]]:
        """TraceQL search: the `traces` list of /api/search."""
        response = httpx.get(
            f"{self.url}/api/search",
            params={"q": traceql, "start": start_s, "end": end_s, "limit": limit},
            timeout=self.timeout,
        )
        if response.status_code != 200:
            raise TempoError(f"search {traceql!r}: HTTP {response.status_code}: {response.text}")
        traces: list[dict[str, Any]] = response.json().get("traces", [])
        return traces


class RunningTempo(TempoClient):
    """A real Tempo process this test owns: start, stop, start again on the same
    ports and data directory."""

    def __init__(
        self,
        binary: str,
        workdir: Path,
        remote_write_url: str | None = None,
        config: Path = CONFIG,
    ) -> None:
        self.binary = binary
        self.config = config
        self.workdir = workdir
        self.data_dir = workdir / "tempo-data"
        # Tempo's working directory, empty and apart from the data: a path the config
        # leaves to its default resolves against it, and a test can see that happen.
        self.cwd = workdir / "tempo-cwd"
        self.log_path = workdir / "tempo.log"
        self.http_port = free_port()
        self.grpc_port = free_port()
        self.otlp_grpc_port = free_port()
        self.otlp_http_port = free_port()
        # Nothing listens on a fresh free port: without a Prometheus to write to, the
        # generator's remote writes fail there and are retried, as with Prometheus down.
        self.remote_write_url = remote_write_url or (f"http://127.0.0.1:{free_port()}/api/v1/write")
        self._process: subprocess.Popen[bytes] | None = None
        super().__init__(f"http://127.0.0.1:{self.http_port}")

    @property
    def otlp_http_url(self) -> str:
        """Base URL of the OTLP/HTTP receiver (an SDK appends /v1/traces)."""
        return f"http://127.0.0.1:{self.otlp_http_port}"

    @property
    def otlp_grpc_endpoint(self) -> str:
        return f"127.0.0.1:{self.otlp_grpc_port}"

    @property
    def environment(self) -> dict[str, str]:
        return {
            "TEMPO_DATA_DIR": str(self.data_dir),
            "TEMPO_LISTEN_ADDRESS": "127.0.0.1",
            "TEMPO_GRPC_PORT": str(self.grpc_port),
            "TEMPO_OTLP_GRPC_PORT": str(self.otlp_grpc_port),
            "TEMPO_OTLP_HTTP_PORT": str(self.otlp_http_port),
            "TEMPO_REMOTE_WRITE_URL": self.remote_write_url,
        }

    @property
    def command(self) -> list[str]:
        return [
            self.binary,
            f"-config.file={self.config}",
            "-config.expand-env=true",
            f"-server.http-listen-port={self.http_port}",
        ]

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, *, ready_timeout: float = 90.0) -> None:
        if self.running:
            raise RuntimeError("Tempo is already running")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.cwd.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self.command,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.cwd,
                env={**os.environ, **self.environment},
            )
        try:
            self.wait_ready(ready_timeout)
        except BaseException:
            self.stop(kill=True)
            raise

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if not self.running:
                pytest.fail(f"Tempo exited during start-up; last lines:\n{self.log_tail()}")
            try:
                response = httpx.get(f"{self.url}/ready", timeout=2.0)
                last = f"HTTP {response.status_code}: {response.text.strip()}"
                if response.status_code == 200 and response.text.strip() == "ready":
                    return
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.2)
        pytest.fail(f"Tempo not ready after {timeout}s ({last}); log:\n{self.log_tail()}")

    def stop(self, *, kill: bool = False, grace: float = 30.0) -> int:
        """Stop the process as `docker compose stop` does: SIGTERM, then SIGKILL if it
        is still running after `grace` seconds (docker-compose.yml's stop_grace_period
        for Tempo). `kill=True` sends SIGKILL at once. Returns the exit code (-9 when
        killed)."""
        if self._process is None:
            raise RuntimeError("Tempo is not running")
        process, self._process = self._process, None
        if process.poll() is None:
            process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        return int(process.returncode)

    def restart(self, *, kill: bool = False) -> None:
        self.stop(kill=kill)
        self.start()

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def warnings(self) -> list[str]:
        """Lines Tempo logged at warn or error level."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return [line for line in text.splitlines() if "level=warn" in line or "level=error" in line]


@contextmanager
def tempo(
    workdir: Path, *, remote_write_url: str | None = None, config: Path = CONFIG
) -> Iterator[RunningTempo]:
    """The real Tempo with the repository's config on free loopback ports (see module doc)."""
    binary = require_binary("tempo", INSTALL)
    instance = RunningTempo(binary, workdir, remote_write_url, config)
    instance.start()
    try:
        yield instance
    finally:
        if instance.running:
            instance.stop()
