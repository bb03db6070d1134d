"""Names fixed by the cross-team contract (DESIGN.md) that the dashboards read.

Kept in one module so a renamed metric is changed here once, and so the tests can
tell a contract name from a typo. Recording-rule names are not written here: they
come from prometheus/generate.py, which writes the rules, so a renamed rule is
one edit there.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

RULE_GENERATOR = Path(__file__).resolve().parents[2] / "prometheus" / "generate.py"


def _rule_generator() -> ModuleType:
    """prometheus/generate.py, loaded from its path: prometheus/ holds scripts, not a
    package (under pytest the name `prometheus` is tests/prometheus)."""
    spec = importlib.util.spec_from_file_location("prometheus_rule_generator", RULE_GENERATOR)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_RULES = _rule_generator()

# Datasource UIDs provisioned in grafana/provisioning/datasources/ that panels query.
PROMETHEUS_UID = "prometheus"
LOKI_UID = "loki"

# Dashboard UIDs; alerts' dashboard_url annotations point at these.
OVERVIEW_UID = "obs-service-overview"
HEALTH_UID = "obs-health"
LOGS_UID = "obs-logs"
STACK_UID = "obs-stack"

# Every dashboard carries this tag; the dashboard links select on it.
STACK_TAG = "observability-stack"

# The label every service series carries (target label, OTLP resource attribute
# or the sidecar's own label); dashboards never select on `job`.
SERVICE_LABEL = "service_name"

# Service HTTP metrics: the same names from the scraped prometheus-client
# exposition, from OTLP-pushed OTel metrics and from the sidecar's access-log parser.
HTTP_DURATION = "http_server_request_duration_seconds"
HTTP_ACTIVE = "http_server_active_requests"

# Sidecar log shipping.
LOG_LINES_READ = "sidecar_log_lines_read_total"
LOG_LINES_SHIPPED = "sidecar_log_lines_shipped_total"
LOG_LINES_DROPPED = "sidecar_log_lines_dropped_total"
LOG_SHIP_REQUESTS = "sidecar_log_ship_requests_total"
LOG_SHIP_DURATION = "sidecar_log_ship_duration_seconds"
LOG_BACKLOG = "sidecar_log_backlog_bytes"
LOG_HELD_OPEN = "sidecar_log_held_open_bytes"
LOG_SOURCE_STALLED = "sidecar_log_source_stalled"
LOG_FILES_REFUSED = "sidecar_log_files_refused_total"
ACCESS_LOG_COLLAPSED = "sidecar_access_log_collapsed_total"
LOG_LAST_SHIPPED = "sidecar_log_last_shipped_timestamp_seconds"
LOG_MESSAGES = "sidecar_log_messages_total"

# Sidecar health aggregation.
HEALTH_CHECK_UP = "sidecar_health_check_up"
HEALTH_CHECK_STATUS = "sidecar_health_check_status"
HEALTH_CHECK_DURATION = "sidecar_health_check_duration_seconds"
HEALTH_STATUS = "sidecar_health_status"

# Recording rules (prometheus/rules), by the names prometheus/generate.py defines.
RULE_REQUESTS: str = _RULES.HTTP_REQUESTS_RULE
RULE_ERROR_RATIO: str = _RULES.HTTP_ERROR_RATIO_RULE
RULE_P95: str = _RULES.http_latency_rule("p95")
# The recorded error ratio of an SLO (one of SLOS) over a window.
slo_error_ratio_rule: Callable[[str, str], str] = _RULES.slo_error_ratio_rule
SLOS: tuple[str, ...] = _RULES.SLOS

# The objectives, one series per service and SLO (prometheus/render.py writes
# them from the services file): slo:objective:ratio{service_name, slo}.
SLO_OBJECTIVE: str = _RULES.OBJECTIVE


def slo_objective_matcher(slo: str) -> str:
    """The matcher that picks the objective of `slo` (one of SLOS)."""
    return f'slo="{slo}"'


# The alert inbox (oncall/): notifications Alertmanager delivered to it.
INBOX_NOTIFICATIONS = "oncall_inbox_notifications_total"
INBOX_REJECTED = "oncall_inbox_rejected_total"
INBOX_LAST_HEARTBEAT = "oncall_inbox_last_heartbeat_timestamp_seconds"
INBOX_SERVICE = "oncall"
INBOX_SOURCE = "inbox"


# Loki stream labels the sidecar sets (low cardinality) and the structured
# metadata it attaches to each line.
LOKI_STREAM_LABELS = ("service_name", "level", "source")
LOKI_STRUCTURED_METADATA = ("trace_id", "span_id")
