"""The real processes the Grafana tests read metrics from, and a Loki stand-in.

Each helper is a context manager that starts the process on a free port,
waits until it answers, and stops it (by its own PID) on exit.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from tests.support import free_port, require_binary, wait_http

FAULT_TOKEN = "grafana-test-fault-token"


@dataclass
class Running:
    url: str
    port: int
    log: Path
    extra: dict[str, Any] = field(default_factory=dict)


@contextmanager
def _process(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> Iterator[None]:
    with log.open("w") as out:
        process = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )
        try:
            yield
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


class _OtlpHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        # An empty body is a valid (empty) ExportTraceServiceResponse.
        self.send_response(200 if self.path == "/v1/traces" else 404)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def otlp_sink() -> Iterator[str]:
    """Stands in for the OTel Collector's OTLP/HTTP trace receiver (POST /v1/traces -> 200).

    Only so that the service turns tracing on: sampled spans are what put trace_id
    exemplars on its histogram and trace_id on its log lines. Spans are discarded.
    """
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _OtlpHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def sample_service(
    workdir: Path, otlp_endpoint: str, name: str = "sample-service"
) -> Iterator[Running]:
    """`python -m sample_service` with tracing, fault injection on and a JSON log file."""
    port = free_port()
    log_file = workdir / f"{name}.log"
    env = {
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "SERVICE_NAME": name,
        "LOG_FILE": str(log_file),
        "DATABASE_URL": f"sqlite+aiosqlite:///{workdir / (name + '.db')}",
        "RATE_LIMIT_PER_MINUTE": "1000000",
        "FAULT_INJECTION_ENABLED": "true",
        "FAULT_ADMIN_TOKEN": FAULT_TOKEN,
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_endpoint,
        "OTEL_TRACES_SAMPLER": "always_on",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }
    url = f"http://127.0.0.1:{port}"
    with _process([sys.executable, "-m", "sample_service"], workdir / f"{name}.out", env):
        wait_http(f"{url}/health/live", timeout=60)
        yield Running(url, port, workdir / f"{name}.out", {"log_file": log_file})


class _LokiHandler(BaseHTTPRequestHandler):
    server: _LokiServer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        if self.path != "/loki/api/v1/push" or "json" not in self.headers.get("Content-Type", ""):
            self.send_response(400)
            self.end_headers()
            return
        with self.server.lock:
            self.server.streams.extend(json.loads(body)["streams"])
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _LokiServer(ThreadingHTTPServer):
    def __init__(self, port: int) -> None:
        super().__init__(("127.0.0.1", port), _LokiHandler)
        self.lock = threading.Lock()
        self.streams: list[dict[str, Any]] = []
        self.push_url = f"http://127.0.0.1:{port}/loki/api/v1/push"


@contextmanager
def fake_loki() -> Iterator[_LokiServer]:
    """Stands in for Loki's push API (POST /loki/api/v1/push, JSON encoding, optional gzip).

    It answers 204 like Loki and records each pushed stream: its `stream` labels
    and its `values` ([timestamp, line] or [timestamp, line, structured metadata]).
    """
    server = _LokiServer(free_port())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def sidecar(
    workdir: Path, loki_url: str, service: Running, access_log_service: str
) -> Iterator[Running]:
    """The real sidecar tailing the service's log (twice: as logs, and as an access log
    for a second service_name) and health-checking it."""
    port = free_port()
    config = {
        "server": {"host": "127.0.0.1", "port": port},
        "loki": {"url": loki_url, "encoding": "json", "batch_max_wait_seconds": 0.2},
        "shipping": {"positions_file": str(workdir / "positions.json")},
        "sources": [
            {
                "name": "app",
                "service_name": "sample-service",
                "paths": [str(service.extra["log_file"])],
                "format": "json",
            },
            {
                "name": "access",
                "service_name": access_log_service,
                "paths": [str(service.extra["log_file"])],
                "format": "json",
                "access_log": {"format": "json"},
            },
        ],
        "health": {
            "checks": [
                {
                    "name": "ready",
                    "kind": "http",
                    "service_name": "sample-service",
                    "url": f"{service.url}/health/ready",
                    "interval_seconds": 1,
                    "timeout_seconds": 1,
                },
                {
                    "name": "port",
                    "kind": "tcp",
                    "service_name": "sample-service",
                    "host": "127.0.0.1",
                    "port": service.port,
                    "interval_seconds": 1,
                    "timeout_seconds": 1,
                },
            ]
        },
    }
    path = workdir / "sidecar.yaml"
    path.write_text(yaml.safe_dump(config))
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "sidecar", "run", "--config", str(path)]
    with _process(cmd, workdir / "sidecar.out"):
        wait_http(f"{url}/health/live", timeout=30)
        yield Running(url, port, workdir / "sidecar.out")


@contextmanager
def oncall(workdir: Path) -> Iterator[Running]:
    """The real alert inbox and runbook server (`python -m oncall`)."""
    port = free_port()
    env = {
        "ONCALL_PORT": str(port),
        "ONCALL_LOG_FILE": str(workdir / "oncall" / "inbox.log"),
        "ONCALL_RUNBOOKS_DIR": str(Path(__file__).resolve().parents[2] / "docs" / "runbooks"),
    }
    url = f"http://127.0.0.1:{port}"
    with _process([sys.executable, "-m", "oncall"], workdir / "oncall.out", env):
        wait_http(f"{url}/health/ready", timeout=30)
        yield Running(url, port, workdir / "oncall.out")


@contextmanager
def alertmanager(workdir: Path, inbox_url: str) -> Iterator[Running]:
    """The real Alertmanager, routing every alert to the inbox and the Watchdog to its
    heartbeat, as the stack does when no receiver is configured."""
    binary = require_binary("alertmanager")
    port = free_port()
    config = {
        "route": {
            "receiver": "inbox",
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "1h",
            "routes": [{"matchers": ['alertname="Watchdog"'], "receiver": "heartbeat"}],
        },
        "receivers": [
            {"name": "inbox", "webhook_configs": [{"url": f"{inbox_url}/alerts"}]},
            {"name": "heartbeat", "webhook_configs": [{"url": f"{inbox_url}/heartbeat"}]},
        ],
    }
    (workdir / "alertmanager.yml").write_text(yaml.safe_dump(config))
    cmd = [
        binary,
        f"--config.file={workdir / 'alertmanager.yml'}",
        f"--storage.path={workdir / 'am-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]
    url = f"http://127.0.0.1:{port}"
    with _process(cmd, workdir / "alertmanager.out"):
        wait_http(f"{url}/-/ready")
        yield Running(url, port, workdir / "alertmanager.out")


@contextmanager
def prometheus(workdir: Path, config: dict[str, Any], port: int | None = None) -> Iterator[Running]:
    """The real Prometheus with `config` and exemplar storage on.

    (Debian's build has no OTLP receiver: neither --web.enable-otlp-receiver nor the
    old otlp-write-receiver feature exists in it, so OTLP pushes cannot be tested here.)
    """
    binary = require_binary("prometheus")
    port = port or free_port()
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    cmd = [
        binary,
        f"--config.file={workdir / 'prometheus.yml'}",
        f"--storage.tsdb.path={workdir / 'prom-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--enable-feature=exemplar-storage",
        "--rules.alert.resend-delay=1s",
    ]
    url = f"http://127.0.0.1:{port}"
    with _process(cmd, workdir / "prometheus.out"):
        wait_http(f"{url}/-/ready")
        yield Running(url, port, workdir / "prometheus.out")
