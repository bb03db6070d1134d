"""The stack the dashboards read, run for real on this machine, under traffic.

Real, all of it: the sample service exporting its traces over OTLP/HTTP to Tempo
(directly: the OTel Collector cannot run here), the sidecar (tailing its log as
logs and as an access log of a second service_name, health-checking it, and
tailing the alert inbox's records) shipping to Loki, Loki and Tempo from the
repository's own configs (tests/support/loki.py, tempo.py), Tempo's
metrics-generator remote-writing to Prometheus, Alertmanager delivering to the
real alert inbox (oncall), and Prometheus with the project's own config and rules
(see prometheus_config), scraping Loki and Tempo too, fed from a services file
that lists both service names (the access-log one with no metrics target). A
traffic thread keeps requests flowing, with a share of them failing by fault
injection, and appends empty lines to the log so the sidecar has something to
drop.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.grafana.processes import (
    FAULT_TOKEN,
    Running,
    alertmanager,
    oncall,
    prometheus,
    sample_service,
    sidecar,
)
from tests.grafana.prometheus_config import local_fast_run
from tests.prometheus.rules import SERVICES_FILE
from tests.support import free_port
from tests.support.loki import RunningLoki, loki
from tests.support.tempo import RunningTempo, tempo

SERVICE = "sample-service"
ACCESS_LOG_SERVICE = "access-log-service"
FAULT_ROUTE = "/api/v1/items"
ERROR_RATE = 0.3


@dataclass
class LiveStack:
    service: Running
    sidecar: Running
    alertmanager: Running
    prometheus: Running
    oncall: Running
    loki: RunningLoki
    tempo: RunningTempo
    dropped_jobs: list[str]
    responses: dict[int, int]


def _traffic(url: str, log_file: Path, stop: threading.Event, seen: dict[int, int]) -> None:
    with httpx.Client(base_url=url, timeout=10) as client:
        auth = {"Authorization": f"Bearer {FAULT_TOKEN}"}
        fault = {"error_rate": ERROR_RATE, "latency_seconds": 0, "route": FAULT_ROUTE}
        client.put("/admin/faults", json=fault, headers=auth).raise_for_status()
        n = 0
        while not stop.is_set():
            path = "/no-such-route" if n % 10 == 9 else "/api/v1/items"
            status = client.get(path).status_code
            seen[status] = seen.get(status, 0) + 1
            if n % 50 == 0:
                # An empty line is what the sidecar drops (reason="empty_line").
                with log_file.open("a") as log:
                    log.write("\n")
            n += 1
            time.sleep(0.03)


def _wait_for_targets_up(url: str, expected: int, timeout: float = 30) -> None:
    """Until Prometheus has scraped every kept job successfully at least once."""
    deadline = time.monotonic() + timeout
    healths: list[str] = []
    while time.monotonic() < deadline:
        active = httpx.get(f"{url}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
        healths = [target["health"] for target in active]
        if healths.count("up") == expected:
            return
        time.sleep(0.2)
    raise AssertionError(f"scrape targets not all up after {timeout}s: {healths}")


def _services_file(workdir: Path, service: Running) -> Path:
    """The project's services file with the sample service on its local port, and the
    access-log service beside it (logs only: no metrics target, the default objectives)."""
    path = workdir / "services.yaml"
    text = SERVICES_FILE.read_text().replace("sample_service:8000", f"127.0.0.1:{service.port}")
    path.write_text(
        text
        + f"  - name: {ACCESS_LOG_SERVICE}\n"
        + "    logs:\n"
        + f"      - paths: [{service.extra['log_file']}]\n"
        + "        source: access\n"
        + "        access_log: {format: json}\n"
    )
    return path


@contextmanager
def live_stack(workdir: Path) -> Iterator[LiveStack]:
    with ExitStack() as stack:
        prom_port = free_port()
        remote_write = f"http://127.0.0.1:{prom_port}/api/v1/write"
        traces = stack.enter_context(tempo(workdir, remote_write_url=remote_write))
        logs = stack.enter_context(loki(workdir))
        service = stack.enter_context(sample_service(workdir, traces.otlp_http_url))
        inbox = stack.enter_context(oncall(workdir))
        # The sidecar follows a services file, as compose's does (its sources are the
        # fixture's own here, so the file lists none): the stack dashboard shows its state.
        services_file = workdir / "sidecar-services.yaml"
        services_file.write_text('{"services": []}\n')
        side = stack.enter_context(
            sidecar(
                workdir,
                logs.push_url,
                service,
                ACCESS_LOG_SERVICE,
                inbox.extra["log_file"],
                services_file,
            )
        )
        am = stack.enter_context(alertmanager(workdir, inbox.url))
        config, dropped = local_fast_run(
            {
                "sidecar": f"127.0.0.1:{side.port}",
                "prometheus": f"127.0.0.1:{prom_port}",
                "alertmanager": f"127.0.0.1:{am.port}",
                "oncall": f"127.0.0.1:{inbox.port}",
                "loki": f"127.0.0.1:{logs.http_port}",
                "tempo": f"127.0.0.1:{traces.http_port}",
            },
            alertmanager=f"127.0.0.1:{am.port}",
            workdir=workdir,
            services_file=_services_file(workdir, service),
        )
        prom = stack.enter_context(prometheus(workdir, config, prom_port))
        stop = threading.Event()
        responses: dict[int, int] = {}
        worker = threading.Thread(
            target=_traffic, args=(service.url, service.extra["log_file"], stop, responses)
        )
        worker.start()
        stack.callback(worker.join, 15)
        stack.callback(stop.set)
        _wait_for_targets_up(prom.url, expected=len(config["scrape_configs"]))
        yield LiveStack(service, side, am, prom, inbox, logs, traces, dropped, responses)
