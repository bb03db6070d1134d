"""The inbox's own series, on a registry of their own; every label value is bounded."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from oncall import telemetry_contract as contract
from oncall.notifications import SEVERITIES, STATUSES

# Receiver names come from whoever posts; past this many, new ones count as "other".
MAX_RECEIVERS = 16
REJECT_REASONS = ("too_large", "not_json", "bad_shape")


class InboxMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.notifications = Counter(
            contract.INBOX_NOTIFICATIONS.name,
            "Alertmanager notifications the inbox received and recorded, by receiver and status.",
            contract.INBOX_NOTIFICATIONS.labels,
            registry=self.registry,
        )
        self.alerts = Counter(
            contract.INBOX_ALERTS.name,
            "Alerts in the recorded notifications, by severity and status.",
            contract.INBOX_ALERTS.labels,
            registry=self.registry,
        )
        self.rejected = Counter(
            contract.INBOX_REJECTED.name,
            "Requests refused as not an Alertmanager notification, by reason.",
            contract.INBOX_REJECTED.labels,
            registry=self.registry,
        )
        self.write_errors = Counter(
            contract.INBOX_WRITE_ERRORS.name,
            "Notifications answered 503 because their record could not be written "
            "(Alertmanager retries them).",
            registry=self.registry,
        )
        self.heartbeats = Counter(
            contract.INBOX_HEARTBEATS.name,
            "Watchdog heartbeats received (the dead-man's switch of the alerting pipeline).",
            registry=self.registry,
        )
        self.last_heartbeat = Gauge(
            contract.INBOX_LAST_HEARTBEAT.name,
            "When the last Watchdog heartbeat arrived (Unix time).",
            registry=self.registry,
        )
        self._receivers: set[str] = set()
        # Every series exists at 0 from the start, so increase() sees the first event.
        for reason in REJECT_REASONS:
            self.rejected.labels(reason)
        for severity in (*SEVERITIES, "none", "other"):
            for status in STATUSES:
                self.alerts.labels(severity, status)
        for receiver in ("page", "ticket"):
            for status in STATUSES:
                self.notifications.labels(self.receiver_label(receiver), status)

    def receiver_label(self, receiver: str) -> str:
        if receiver in self._receivers:
            return receiver
        if len(self._receivers) >= MAX_RECEIVERS:
            return "other"
        self._receivers.add(receiver)
        return receiver
