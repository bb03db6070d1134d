"""A real app on a temporary log file and a copy of the repository's runbooks."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from oncall.app import build_app
from oncall.settings import Settings
from starlette.testclient import TestClient

REPO = Path(__file__).resolve().parents[2]
RUNBOOKS = REPO / "docs" / "runbooks"


def notification(status: str = "firing", **labels: str) -> dict[str, Any]:
    """Alertmanager's webhook body (version 4) for one alert, as it sends it."""
    alert_labels = {
        "alertname": "AvailabilityBudgetBurn",
        "service_name": "sample-service",
        "severity": "critical",
        **labels,
    }
    return {
        "version": "4",
        "groupKey": '{}/{severity="critical"}:{alertname="AvailabilityBudgetBurn"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "page",
        "groupLabels": {
            "alertname": alert_labels["alertname"],
            "service_name": alert_labels["service_name"],
        },
        "commonLabels": alert_labels,
        "commonAnnotations": {},
        "externalURL": "http://127.0.0.1:9093",
        "alerts": [
            {
                "status": status,
                "labels": alert_labels,
                "annotations": {
                    "summary": "The service is burning its availability error budget too fast.",
                    "description": "sample-service: 50% of requests failed",
                    "runbook_url": "http://127.0.0.1:9095/runbooks/AvailabilityBudgetBurn.md",
                    "dashboard_url": "http://127.0.0.1:3000/d/obs-service-overview",
                },
                "startsAt": "2026-11-30T10:00:00.000Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090/graph",
                "fingerprint": "c0ffee",
            }
        ],
    }


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    runbooks = tmp_path / "runbooks"
    shutil.copytree(RUNBOOKS, runbooks)
    return Settings(runbooks_dir=runbooks, log_file=tmp_path / "log" / "inbox.log")


@pytest.fixture
def client_for() -> Iterator[Callable[[Settings], TestClient]]:
    clients: list[TestClient] = []

    def make(settings: Settings) -> TestClient:
        client = TestClient(build_app(settings))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(settings: Settings, client_for: Callable[[Settings], TestClient]) -> TestClient:
    return client_for(settings)
