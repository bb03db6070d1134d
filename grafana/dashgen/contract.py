"""The names the dashboards read, from the telemetry contract (contract/telemetry.yaml).

Kept in one module so the builders refer to these constants, never to a literal name,
and so the tests can tell a contract name from a typo. Metric and label names, UIDs and
the inbox's service and source come from the contract; recording-rule names come from
prometheus/generate.py, which writes the rules. A rename is one edit there.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from contract import current

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
_CONTRACT = current()


def _metric(key: str) -> str:
    return _CONTRACT.metric(key).name


# Datasource UIDs provisioned in grafana/provisioning/datasources/ that panels query.
PROMETHEUS_UID = _CONTRACT.datasource_uid("prometheus")
LOKI_UID = _CONTRACT.datasource_uid("loki")

# Dashboard UIDs; alerts' dashboard_url annotations point at these.
OVERVIEW_UID = _CONTRACT.dashboard_uid("service_overview")
HEALTH_UID = _CONTRACT.dashboard_uid("health")
LOGS_UID = _CONTRACT.dashboard_uid("logs")
STACK_UID = _CONTRACT.dashboard_uid("stack")

# Every dashboard carries this tag; the dashboard links select on it.
STACK_TAG = "observability-stack"

# The label every service series carries (target label, OTLP resource attribute
# or the sidecar's own label); dashboards never select on `job`.
SERVICE_LABEL = _CONTRACT.label(_CONTRACT.grafana.variable)

# Service HTTP metrics: the same names from the scraped prometheus-client
# exposition, from OTLP-pushed OTel metrics and from the sidecar's access-log parser.
HTTP_DURATION = _metric("http_duration")
HTTP_ACTIVE = _metric("http_active")

# Sidecar log shipping.
LOG_LINES_READ = _metric("log_lines_read")
LOG_LINES_SHIPPED = _metric("log_lines_shipped")
LOG_LINES_DROPPED = _metric("log_lines_dropped")
LOG_SHIP_REQUESTS = _metric("log_ship_requests")
LOG_SHIP_DURATION = _metric("log_ship_duration")
LOG_BACKLOG = _metric("log_backlog")
LOG_HELD_OPEN = _metric("log_held_open")
LOG_SOURCE_STALLED = _metric("log_source_stalled")
LOG_FILES_REFUSED = _metric("log_files_refused")
ACCESS_LOG_COLLAPSED = _metric("access_log_collapsed")
LOG_LAST_SHIPPED = _metric("log_last_shipped")
LOG_MESSAGES = _metric("log_messages")
# The sidecar's own state: its series carry the sidecar's own service_name.
SHIPPING_PROCESS_UP = _metric("shipping_process_up")
SHIPPING_RESTARTS = _metric("shipping_restarts")
SERVICES_FILE_OK = _metric("services_file_reload_successful")
_SIDECAR = _CONTRACT.components["sidecar"]
assert _SIDECAR.service_name is not None, "the contract names the sidecar's service_name"
SIDECAR_SERVICE: str = _SIDECAR.service_name

# Sidecar health aggregation.
HEALTH_CHECK_UP = _metric("health_check_up")
HEALTH_CHECK_STATUS = _metric("health_check_status")
HEALTH_CHECK_DURATION = _metric("health_check_duration")
HEALTH_STATUS = _metric("health_status")

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
    return f'{_CONTRACT.label("slo")}="{slo}"'


# The alert inbox (oncall/): notifications Alertmanager delivered to it.
INBOX_NOTIFICATIONS = _metric("inbox_notifications")
INBOX_REJECTED = _metric("inbox_rejected")
INBOX_LAST_HEARTBEAT = _metric("inbox_last_heartbeat")
_INBOX = _CONTRACT.components["oncall"]
assert _INBOX.service_name is not None, "the contract names the inbox's service_name"
assert _INBOX.log_source is not None, "the contract names the inbox's log source"
INBOX_PORT = _INBOX.port
INBOX_SERVICE: str = _INBOX.service_name
INBOX_SOURCE: str = _INBOX.log_source


# Loki stream labels the sidecar sets (low cardinality) and the structured
# metadata it attaches to each line.
LOKI_STREAM_LABELS = tuple(_CONTRACT.label(key) for key in _CONTRACT.loki.stream_labels)
LOKI_STRUCTURED_METADATA = _CONTRACT.loki.structured_metadata
