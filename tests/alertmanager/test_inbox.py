"""The real Alertmanager, rendered with no receiver configured, delivers to the real inbox.

Alertmanager runs the project's routing (group timings shortened) with only
INBOX_URL set, as docker-compose.yml does; the oncall service runs as
`python -m oncall` on loopback. A page posted to Alertmanager arrives in the
inbox as a log record with the fields of the telemetry
contract and is counted; the
Watchdog arrives at the heartbeat, counted and not recorded.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.alertmanager.running import running_alertmanager
from tests.integration.background import background
from tests.integration.transforms import fast_alertmanager_timings
from tests.support import free_port, wait_http

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def _metric(url: str, name: str) -> float:
    for line in httpx.get(f"{url}/metrics", timeout=5).text.splitlines():
        if line.startswith(name):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_page_and_the_watchdog_reach_the_inbox(tmp_path: Path) -> None:
    port = free_port()
    log_file = tmp_path / "oncall" / "inbox.log"
    env = {
        "ONCALL_PORT": str(port),
        "ONCALL_LOG_FILE": str(log_file),
        "ONCALL_RUNBOOKS_DIR": str(REPO / "docs" / "runbooks"),
    }
    with background([sys.executable, "-m", "oncall"], tmp_path / "oncall.out", env=env) as inbox:
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/health/ready", timeout=30)
        am_env = {"INBOX_URL": url}
        with running_alertmanager(
            tmp_path, am_env, lambda text: fast_alertmanager_timings(text, "0s", "1s")
        ) as alertmanager:
            alerts = [
                {
                    "labels": {
                        "alertname": "ServiceDown",
                        "service_name": "sample-service",
                        "severity": "critical",
                    },
                    "annotations": {
                        "summary": "The service cannot be scraped: it is down or unreachable.",
                        "description": "sample-service: no scrape target exists",
                        "runbook_url": "http://127.0.0.1:9095/runbooks/ServiceDown.md",
                        "dashboard_url": "http://127.0.0.1:3000/d/obs-health",
                    },
                },
                {
                    "labels": {
                        "alertname": "Watchdog",
                        "service_name": "prometheus",
                        "severity": "info",
                    }
                },
            ]
            posted = httpx.post(f"{alertmanager}/api/v2/alerts", json=alerts, timeout=5)
            posted.raise_for_status()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not (
                log_file.exists() and _metric(url, "oncall_inbox_heartbeats_total") >= 1
            ):
                time.sleep(0.2)
        inbox.assert_running()
        (record,) = [json.loads(line) for line in log_file.read_text().splitlines()]
        assert record["receiver"] == "page"
        assert record["status"] == "firing"
        assert record["message"].startswith("[FIRING:1] ServiceDown sample-service (page)")
        assert {"timestamp", "level", "logger", "message", "service_name"} <= set(record)
        assert record["alerts"][0]["labels"]["severity"] == "critical"
        assert (
            _metric(url, 'oncall_inbox_notifications_total{receiver="page",status="firing"}') == 1
        )
        assert _metric(url, "oncall_inbox_heartbeats_total") >= 1
        assert "ServiceDown" in httpx.get(url, timeout=5).text
