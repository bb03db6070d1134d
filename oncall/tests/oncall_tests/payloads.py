"""What Alertmanager posts, and where the repository keeps the runbooks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
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
