"""The real processes the Grafana tests read from (Loki and Tempo: tests/support).

Each helper is a context manager that starts the process on a free port,
waits until it answers, and stops it (by its own PID) on exit.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.support import free_port, require_binary, wait_http

FAULT_TOKEN = "grafana-test-fault-token-of-at-least-32-bytes"


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


@contextmanager
def sample_service(
    workdir: Path, otlp_endpoint: str, name: str = "sample-service"
) -> Iterator[Running]:
    """`python -m sample_service` with tracing to `otlp_endpoint` (OTLP/HTTP base URL),
    fault injection on and a JSON log file."""
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


@contextmanager
def sidecar(
    workdir: Path,
    loki_url: str,
    service: Running,
    access_log_service: str,
    inbox_log: Path,
    services_file: Path | None = None,
) -> Iterator[Running]:
    """The real sidecar tailing the service's log (twice: as logs, and as an access log
    for a second service_name) and the alert inbox's records (source `inbox`, as in
    compose/sidecar.yaml), and health-checking the service; plus what `services_file`
    lists, when given."""
    port = free_port()
    config: dict[str, Any] = {
        "server": {"host": "127.0.0.1", "port": port},
        "loki": {"url": loki_url, "batch_max_wait_seconds": 0.2},
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
            {
                "name": "inbox",
                "service_name": "oncall",
                "paths": [str(inbox_log), f"{inbox_log}.[0-9]"],
                "format": "json",
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
    if services_file is not None:
        config["services_file"] = {"path": str(services_file)}
    path = workdir / "sidecar.yaml"
    path.write_text(yaml.safe_dump(config))
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "sidecar", "run", "--config", str(path)]
    with _process(cmd, workdir / "sidecar.out"):
        wait_http(f"{url}/health/live", timeout=30)
        yield Running(url, port, workdir / "sidecar.out")


@contextmanager
def oncall(workdir: Path) -> Iterator[Running]:
    """The real alert inbox and runbook server (`python -m oncall`); its notification
    records go to `extra["log_file"]`."""
    port = free_port()
    log_file = workdir / "oncall" / "inbox.log"
    env = {
        "ONCALL_PORT": str(port),
        "ONCALL_LOG_FILE": str(log_file),
        "ONCALL_RUNBOOKS_DIR": str(Path(__file__).resolve().parents[2] / "docs" / "runbooks"),
    }
    url = f"http://127.0.0.1:{port}"
    with _process([sys.executable, "-m", "oncall"], workdir / "oncall.out", env):
        wait_http(f"{url}/health/ready", timeout=30)
        yield Running(url, port, workdir / "oncall.out", {"log_file": log_file})


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
    """The real Prometheus with `config`, exemplar storage and the remote-write receiver
    (Tempo's metrics-generator writes there) on, as docker-compose.yml runs it.

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
        "--web.enable-remote-write-receiver",
        "--rules.alert.resend-delay=1s",
    ]
    url = f"http://127.0.0.1:{port}"
    with _process(cmd, workdir / "prometheus.out"):
        wait_http(f"{url}/-/ready")
        yield Running(url, port, workdir / "prometheus.out")
