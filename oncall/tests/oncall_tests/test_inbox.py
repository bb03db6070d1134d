"""The inbox records every Alertmanager notification it accepts, counts it, and shows it."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from oncall.notifications import MAX_ALERTS, MAX_TEXT
from oncall.settings import Settings, SettingsError, from_env
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from oncall_tests.payloads import notification

DESIGN_FIELDS = {"timestamp", "level", "logger", "message", "service_name"}


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def metric(client: TestClient, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    raise AssertionError(f"{name}{labels} not exposed")


def test_a_notification_becomes_one_log_record_a_count_and_an_inbox_row(
    client: TestClient, settings: Settings
) -> None:
    assert metric(client, "oncall_inbox_notifications_total", receiver="page", status="firing") == 0
    response = client.post("/alerts", json=notification())
    assert response.status_code == 200, response.text

    (record,) = lines(settings.log_file)
    assert set(record) >= DESIGN_FIELDS
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["timestamp"])
    assert (record["level"], record["logger"], record["service_name"]) == (
        "warning",
        "oncall.inbox",
        "oncall",
    )
    assert record["message"] == (
        "[FIRING:1] AvailabilityBudgetBurn sample-service (page): "
        "The service is burning its availability error budget too fast."
    )
    assert (record["receiver"], record["status"], record["alert_service_name"]) == (
        "page",
        "firing",
        "sample-service",
    )
    assert record["alerts"][0]["annotations"]["runbook_url"].endswith("AvailabilityBudgetBurn.md")
    assert record["request_id"] == response.json()["request_id"]

    assert metric(client, "oncall_inbox_notifications_total", receiver="page", status="firing") == 1
    assert metric(client, "oncall_inbox_alerts_total", severity="critical", status="firing") == 1
    page = client.get("/")
    assert page.status_code == 200
    assert "AvailabilityBudgetBurn" in page.text
    assert 'href="http://127.0.0.1:9095/runbooks/AvailabilityBudgetBurn.md"' in page.text
    assert client.get("/api/notifications").json()[0]["request_id"] == record["request_id"]


def test_resolved_is_info_and_newest_comes_first(client: TestClient, settings: Settings) -> None:
    client.post("/alerts", json=notification())
    client.post("/alerts", json=notification("resolved"))
    first, second = lines(settings.log_file)
    assert (first["level"], second["level"]) == ("warning", "info")
    assert second["message"].startswith("[RESOLVED] AvailabilityBudgetBurn sample-service (page)")
    assert [n["status"] for n in client.get("/api/notifications").json()] == [
        "resolved",
        "firing",
    ]


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (b"not json", 400, "not_json"),
        (b"[1, 2]", 400, "bad_shape"),
        (json.dumps({**notification(), "status": "weird"}).encode(), 400, "bad_shape"),
        (json.dumps({**notification(), "alerts": []}).encode(), 400, "bad_shape"),
        (
            json.dumps(
                {**notification(), "alerts": [{"status": "firing", "labels": [1]}]}
            ).encode(),
            400,
            "bad_shape",
        ),
        (b" " * (1024 * 1024 + 1), 413, "too_large"),
    ],
)
def test_what_is_not_a_notification_is_refused_counted_and_not_recorded(
    client: TestClient, settings: Settings, body: bytes, status: int, reason: str
) -> None:
    response = client.post("/alerts", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status
    assert metric(client, "oncall_inbox_rejected_total", reason=reason) == 1
    assert not settings.log_file.exists() or settings.log_file.read_text() == ""
    assert client.get("/api/notifications").json() == []


def test_hostile_sizes_and_markup_are_bounded_and_escaped(
    client: TestClient, settings: Settings
) -> None:
    body = notification(alertname="<script>alert(1)</script>")
    alert = body["alerts"][0]
    alert["annotations"]["description"] = "x" * (MAX_TEXT * 3)
    alert["annotations"]["runbook_url"] = "javascript:alert(1)"
    body["alerts"] = [alert] * (MAX_ALERTS + 7)
    body["truncatedAlerts"] = 3
    assert client.post("/alerts", json=body).status_code == 200
    (record,) = lines(settings.log_file)
    assert len(record["alerts"]) == MAX_ALERTS
    assert record["alerts_truncated"] == 7 + 3
    assert len(record["alerts"][0]["annotations"]["description"]) == MAX_TEXT
    page = client.get("/").text
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert 'href="javascript:' not in page
    assert "default-src 'none'" in client.get("/").headers["content-security-policy"]


def test_receiver_labels_are_bounded(client: TestClient) -> None:
    for n in range(40):
        client.post("/alerts", json={**notification(), "receiver": f"r{n}"})
    text = client.get("/metrics").text
    receivers = set(re.findall(r'oncall_inbox_notifications_total\{receiver="([^"]+)"', text))
    assert "other" in receivers
    assert len(receivers) <= 17


def test_a_record_that_cannot_be_written_is_answered_503_so_alertmanager_retries(
    client: TestClient, settings: Settings
) -> None:
    settings.log_file.parent.mkdir(parents=True, exist_ok=True)
    settings.log_file.mkdir()  # a directory where the file should be: every open fails
    response = client.post("/alerts", json=notification())
    assert response.status_code == 503
    assert metric(client, "oncall_inbox_write_errors_total") == 1
    assert client.get("/api/notifications").json() == []
    assert client.get("/health/ready").status_code == 503


def test_a_restart_refills_the_inbox_from_the_file_and_skips_a_torn_line(
    settings: Settings, client_for: Callable[[Settings], TestClient]
) -> None:
    first = client_for(settings)
    for _ in range(3):
        first.post("/alerts", json=notification())
    with settings.log_file.open("a") as handle:
        handle.write('{"timestamp": "2026-')  # a kill -9 in the middle of a write
    again = client_for(replace(settings, inbox_size=2))
    assert len(again.get("/api/notifications").json()) == 2
    assert again.post("/alerts", json=notification("resolved")).status_code == 200
    assert again.get("/api/notifications").json()[0]["status"] == "resolved"


def test_the_record_file_rotates_by_size(
    settings: Settings, client_for: Callable[[Settings], TestClient]
) -> None:
    client = client_for(replace(settings, log_max_bytes=64 * 1024, log_backups=2))
    for _ in range(200):  # about 1 KiB each
        client.post("/alerts", json=notification())
    rotated = sorted(p.name for p in settings.log_file.parent.iterdir())
    assert rotated == ["inbox.log", "inbox.log.1", "inbox.log.2"]
    sizes = [os.path.getsize(settings.log_file.parent / name) for name in rotated]
    assert all(size <= 64 * 1024 for size in sizes)


def test_heartbeats_are_counted_not_recorded(client: TestClient, settings: Settings) -> None:
    response = client.post("/heartbeat", json=notification(alertname="Watchdog", severity="info"))
    assert response.status_code == 200
    assert metric(client, "oncall_inbox_heartbeats_total") == 1
    assert metric(client, "oncall_inbox_last_heartbeat_timestamp_seconds") > 0
    assert not settings.log_file.exists()


def test_health(client: TestClient, settings: Settings) -> None:
    assert client.get("/health/live").json() == {"status": "pass"}
    assert client.get("/health/ready").json() == {"status": "pass"}


def test_settings_from_the_environment_name_the_bad_variable() -> None:
    assert from_env({}) == Settings()
    assert from_env({"ONCALL_PORT": "9999", "ONCALL_HOST": "0.0.0.0"}).port == 9999
    with pytest.raises(SettingsError, match="ONCALL_PORT: expected a whole number"):
        from_env({"ONCALL_PORT": "http"})
    with pytest.raises(SettingsError, match="ONCALL_INBOX_SIZE: 0 is outside"):
        from_env({"ONCALL_INBOX_SIZE": "0"})
