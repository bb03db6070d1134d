"""Alertmanager's webhook JSON (version 4) into a bounded inbox record.

Input is untrusted as far as this module is concerned: anything on the network
can POST. The shape is checked, every string is cut to MAX_TEXT, at most
MAX_ALERTS alerts of one notification are kept (the rest are counted), and
the record holds nothing but what is listed here, so a record line stays far
below the sidecar's line limit.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from oncall import telemetry_contract as contract

MAX_TEXT = 2048
MAX_ALERTS = 50
MAX_LABELS = 64
STATUSES = contract.NOTIFICATION_STATUS_VALUES
SEVERITIES = contract.SEVERITY_VALUES
SERVICE_NAME = contract.SERVICE_NAME


class BadNotification(ValueError):
    """The body is not an Alertmanager webhook notification; the message says why."""


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise BadNotification(f"{where}: expected a string")
    return value[:MAX_TEXT]


def _pairs(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadNotification(f"{where}: expected an object of strings")
    items = list(value.items())[:MAX_LABELS]
    return {_text(k, where)[:256]: _text(v, f"{where}.{k}") for k, v in items}


def _alert(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise BadNotification(f"{where}: expected an object")
    status = raw.get("status")
    if status not in STATUSES:
        raise BadNotification(f"{where}.status: expected firing or resolved")
    return {
        "status": status,
        "labels": _pairs(raw.get("labels"), f"{where}.labels"),
        "annotations": _pairs(raw.get("annotations"), f"{where}.annotations"),
        "starts_at": _text(raw.get("startsAt", ""), f"{where}.startsAt"),
        "ends_at": _text(raw.get("endsAt", ""), f"{where}.endsAt"),
        "fingerprint": _text(raw.get("fingerprint", ""), f"{where}.fingerprint"),
    }


def timestamp(now: float) -> str:
    """RFC 3339, UTC, milliseconds (the telemetry contract's log record timestamp)."""
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
    return f"{whole}.{int(now * 1000) % 1000:03d}Z"


def record(payload: Any, now: float) -> dict[str, Any]:
    """The inbox record (a log record of the telemetry contract) of one webhook notification."""
    if not isinstance(payload, dict):
        raise BadNotification("expected a JSON object")
    status = payload.get("status")
    if status not in STATUSES:
        raise BadNotification("status: expected firing or resolved")
    receiver = _text(payload.get("receiver", ""), "receiver")
    raw_alerts = payload.get("alerts")
    if not isinstance(raw_alerts, list) or not raw_alerts:
        raise BadNotification("alerts: expected a non-empty list")
    alerts = [_alert(a, f"alerts[{i}]") for i, a in enumerate(raw_alerts[:MAX_ALERTS])]
    group = _pairs(payload.get("groupLabels"), "groupLabels")
    common = _pairs(payload.get("commonLabels"), "commonLabels")
    firing = sum(alert["status"] == "firing" for alert in alerts)
    alertname = group.get("alertname") or common.get("alertname") or "(several alerts)"
    service = group.get("service_name") or common.get("service_name") or ""
    head = f"[FIRING:{firing}]" if status == "firing" else "[RESOLVED]"
    summary = alerts[0]["annotations"].get("summary", "")
    message = " ".join(part for part in (head, alertname, service, f"({receiver})") if part)
    return {
        "timestamp": timestamp(now),
        "level": "warning" if status == "firing" else "info",
        "logger": "oncall.inbox",
        "message": f"{message}: {summary}" if summary else message,
        "service_name": SERVICE_NAME,
        "request_id": uuid.uuid4().hex,
        "receiver": receiver,
        "status": status,
        "alertname": alertname,
        "alert_service_name": service,
        "severity": common.get("severity", ""),
        "group_key": _text(payload.get("groupKey", ""), "groupKey"),
        "external_url": _text(payload.get("externalURL", ""), "externalURL"),
        "alerts": alerts,
        # Alertmanager's own count of alerts it left out (max_alerts) plus ours.
        "alerts_truncated": max(0, len(raw_alerts) - MAX_ALERTS)
        + (
            payload["truncatedAlerts"]
            if isinstance(payload.get("truncatedAlerts"), int)
            and not isinstance(payload.get("truncatedAlerts"), bool)
            and payload["truncatedAlerts"] > 0
            else 0
        ),
    }


def severity_label(value: str) -> str:
    """A bounded severity label value for the metrics."""
    return value if value in SEVERITIES else ("none" if not value else "other")
