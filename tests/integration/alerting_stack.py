"""The alerting path on loopback: real sample service, sidecar, Prometheus and Alertmanager.

Prometheus runs the project's prometheus.yml and rule files through the named
transforms of tests/integration/transforms.py (jobs pointed at loopback ports,
time compressed by TIME_FACTOR); Alertmanager runs the project's routing with
group timings shortened. Nothing else differs from production.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.alertmanager.running import running_alertmanager
from tests.integration.background import Background, background
from tests.integration.transforms import (
    compress_rule_files,
    fast_alertmanager_timings,
    loopback_prometheus_config,
)
from tests.prometheus.rules import SERVICES_FILE, render, rendered
from tests.support import free_port, require_binary, wait_http
from tests.support.loki_double import LokiDouble
from tests.support.webhook_receiver import WebhookReceiver

REPO = Path(__file__).resolve().parents[2]
SERVICE = "sample-service"
FAULT_TOKEN = "alerting-path-test-fault-token-of-at-least-32-bytes"
# One production minute lasts one second: `for: 1m` -> 1s, rate(...[1h]) -> [60s].
TIME_FACTOR = 60.0
INTERVAL = "1s"
# A range must still hold as many 1s scrapes as production's shortest range (1m)
# holds 15s ones: HealthCheckFailing counts them.
MIN_RANGE_SECONDS = 4.0
# The sidecar's checks in the test (production: every 10s, 3 failures to publish).
CHECK_INTERVAL_SECONDS = 0.5
CHECK_FAILURE_THRESHOLD = 2
# Alertmanager's group_wait and group_interval in the test (production: 30s / 5m for pages).
GROUP_WAIT, GROUP_INTERVAL = "1s", "2s"


class Dependency:
    """Stands in for a dependency the service needs (a database's or upstream's HTTP health
    endpoint): GET / answers 200 {"status": "pass"} or, once failed, 503 {"status": "fail"}."""

    def __init__(self) -> None:
        self.healthy = True
        dependency = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                ok = dependency.healthy
                body = b'{"status": "pass"}' if ok else b'{"status": "fail"}'
                self.send_response(200 if ok else 503)
                self.send_header("Content-Type", "application/health+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/"

    def __enter__(self) -> Dependency:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class ServiceProcess:
    """`python -m sample_service` on a fixed port, restartable (same port, same database)."""

    workdir: Path
    port: int = field(default_factory=free_port)
    running: Background | None = None
    _stack: ExitStack = field(default_factory=ExitStack)
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.workdir / "service.jsonl"

    def start(self) -> None:
        self.starts += 1
        env = {
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "SERVICE_NAME": SERVICE,
            "LOG_FILE": str(self.log_file),
            "DATABASE_URL": f"sqlite+aiosqlite:///{self.workdir / 'service.db'}",
            "RATE_LIMIT_PER_MINUTE": "1000000",
            "FAULT_INJECTION_ENABLED": "true",
            "FAULT_ADMIN_TOKEN": FAULT_TOKEN,
            "UPSTREAM_URL": f"{self.url}/health/live",
        }
        log = self.workdir / f"service-{self.starts}.out"
        self.running = self._stack.enter_context(
            background([sys.executable, "-m", "sample_service"], log, env=env)
        )
        wait_http(f"{self.url}/health/ready", timeout=60)

    def stop(self) -> None:
        if self.running is not None:
            self.running.stop()
            self.running = None

    def close(self) -> None:
        self._stack.close()

    def set_fault(self, error_rate: float, route: str | None = "/api/v1/items") -> None:
        fault = {"error_rate": error_rate, "latency_seconds": 0, "route": route}
        headers = {"Authorization": f"Bearer {FAULT_TOKEN}"}
        response = httpx.put(f"{self.url}/admin/faults", json=fault, headers=headers, timeout=5)
        response.raise_for_status()

    def clear_fault(self) -> None:
        headers = {"Authorization": f"Bearer {FAULT_TOKEN}"}
        httpx.delete(f"{self.url}/admin/faults", headers=headers, timeout=5).raise_for_status()


def _sidecar_config(workdir: Path, port: int, service: ServiceProcess, loki: str, dep: str) -> Path:
    def check(name: str, url: str) -> dict[str, Any]:
        return {
            "name": name,
            "kind": "http",
            "service_name": SERVICE,
            "url": url,
            "interval_seconds": CHECK_INTERVAL_SECONDS,
            "timeout_seconds": CHECK_INTERVAL_SECONDS,
            "failure_threshold": CHECK_FAILURE_THRESHOLD,
            "critical": True,
        }

    config = {
        "server": {"host": "127.0.0.1", "port": port},
        "loki": {"url": loki, "batch_max_wait_seconds": 0.2},
        "shipping": {"positions_file": str(workdir / "positions.json")},
        "sources": [
            {"name": "app", "service_name": SERVICE, "paths": [str(service.log_file)]},
        ],
        "health": {
            "checks": [check("ready", f"{service.url}/health/ready"), check("upstream", dep)]
        },
    }
    path = workdir / "sidecar.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _prometheus_files(
    workdir: Path, targets: dict[str, str], alertmanager: str, service: ServiceProcess
) -> Path:
    """What stack-config renders from the project's services file, with the sample
    service on its loopback port, then the rules compressed in time."""
    services = workdir / "services.yaml"
    services.write_text(
        SERVICES_FILE.read_text().replace("sample_service:8000", f"127.0.0.1:{service.port}")
    )
    render.write(workdir / "stack-config", rendered(services))
    rules_dir = workdir / "rules"
    compress_rule_files(
        workdir / "stack-config" / "prometheus" / "rules",
        rules_dir,
        TIME_FACTOR,
        MIN_RANGE_SECONDS,
    )
    project = yaml.safe_load((REPO / "prometheus" / "prometheus.yml").read_text())
    config = loopback_prometheus_config(
        project,
        targets,
        alertmanager,
        str(rules_dir / "*.rules.yml"),
        INTERVAL,
        file_sd_jobs={"services"},
    )
    path = workdir / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@dataclass
class AlertingStack:
    service: ServiceProcess
    dependency: Dependency
    webhook: WebhookReceiver
    prometheus_url: str
    alertmanager_url: str
    sidecar: Background
    rules_dir: Path  # the compressed rule files Prometheus runs


class Traffic:
    """A thread sending GET /api/v1/items at about `rate` per second until stopped."""

    def __init__(self, url: str, rate: float) -> None:
        self.statuses: dict[int | str, int] = {}
        self._url, self._pause = url, 1 / rate
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self._url, timeout=2) as client:
            while not self._stop.is_set():
                try:
                    key: int | str = client.get("/api/v1/items").status_code
                except httpx.HTTPError as exc:
                    key = type(exc).__name__
                self.statuses[key] = self.statuses.get(key, 0) + 1
                self._stop.wait(self._pause)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def wait_until(what: str, predicate: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@contextmanager
def alerting_stack(workdir: Path) -> Iterator[AlertingStack]:
    prometheus_bin = require_binary("prometheus")
    require_binary("alertmanager")
    with ExitStack() as stack:
        webhook = stack.enter_context(WebhookReceiver())
        loki = stack.enter_context(LokiDouble())
        dependency = stack.enter_context(Dependency())
        service = ServiceProcess(workdir)
        stack.callback(service.close)
        service.start()

        sidecar_port = free_port()
        sidecar_config = _sidecar_config(workdir, sidecar_port, service, loki.url, dependency.url)
        sidecar = stack.enter_context(
            background(
                [sys.executable, "-m", "sidecar", "run", "--config", str(sidecar_config)],
                workdir / "sidecar.out",
            )
        )
        wait_http(f"http://127.0.0.1:{sidecar_port}/health/live", timeout=30)

        am_env = {"ALERT_WEBHOOK_URL": webhook.url}
        alertmanager_url = stack.enter_context(
            running_alertmanager(
                workdir,
                am_env,
                lambda text: fast_alertmanager_timings(text, GROUP_WAIT, GROUP_INTERVAL),
            )
        )
        am_address = alertmanager_url.removeprefix("http://")

        prom_port = free_port()
        config = _prometheus_files(
            workdir,
            {
                "sidecar": f"127.0.0.1:{sidecar_port}",
                "prometheus": f"127.0.0.1:{prom_port}",
                "alertmanager": am_address,
            },
            am_address,
            service,
        )
        stack.enter_context(
            background(
                [
                    prometheus_bin,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={workdir / 'prometheus-data'}",
                    f"--web.listen-address=127.0.0.1:{prom_port}",
                    "--enable-feature=exemplar-storage",
                    # Firing alerts are re-sent this often (production: 1m).
                    "--rules.alert.resend-delay=2s",
                ],
                workdir / "prometheus.log",
            )
        )
        prometheus_url = f"http://127.0.0.1:{prom_port}"
        wait_http(f"{prometheus_url}/-/ready", timeout=30)

        # An alert fired before Prometheus has discovered Alertmanager would only
        # arrive at the next resend; wait for discovery and for the first scrapes.
        def discovered() -> bool:
            data = httpx.get(f"{prometheus_url}/api/v1/alertmanagers", timeout=5).json()["data"]
            return bool(data["activeAlertmanagers"])

        def all_up() -> bool:
            query = {"query": "up"}
            result = httpx.get(f"{prometheus_url}/api/v1/query", params=query, timeout=5).json()
            values = [sample["value"][1] for sample in result["data"]["result"]]
            return len(values) == 4 and all(value == "1" for value in values)

        wait_until("Prometheus to discover Alertmanager", discovered, 30)
        wait_until("every target to be up", all_up, 30)
        yield AlertingStack(
            service,
            dependency,
            webhook,
            prometheus_url,
            alertmanager_url,
            sidecar,
            config.parent / "rules",
        )
