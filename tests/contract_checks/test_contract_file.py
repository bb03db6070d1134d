"""contract/telemetry.yaml: it loads, what is generated from it is current, it refuses an
inconsistent edit naming the field, it keeps every name of the stack's original design,
and the repository points at it rather than at a document outside the repository."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from contract import CONTRACT_FILE, ContractError, current, load
from contract.__main__ import PAGE, outputs
from contract.modules import render as render_module
from contract.page import render as render_page

REPO = Path(__file__).resolve().parents[2]
RAW = yaml.safe_load(CONTRACT_FILE.read_text())

# The names the stack's original design document fixed ("nothing in it may be renamed"),
# kept here so that a rename of one of them in telemetry.yaml fails.
DESIGN_METRICS = {
    "http_server_request_duration_seconds": "histogram",
    "http_server_active_requests": "gauge",
    "sidecar_log_lines_read_total": "counter",
    "sidecar_log_lines_shipped_total": "counter",
    "sidecar_log_lines_dropped_total": "counter",
    "sidecar_log_ship_requests_total": "counter",
    "sidecar_log_ship_duration_seconds": "histogram",
    "sidecar_log_backlog_bytes": "gauge",
    "sidecar_log_spool_bytes": "gauge",
    "sidecar_log_last_shipped_timestamp_seconds": "gauge",
    "sidecar_log_messages_total": "counter",
    "sidecar_health_check_up": "gauge",
    "sidecar_health_check_status": "gauge",
    "sidecar_health_check_duration_seconds": "gauge",
    "sidecar_health_status": "gauge",
}
DESIGN_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)
DESIGN_LABELS = {
    "http_request_method",
    "http_route",
    "http_response_status_code",
    "service_name",
    "telemetry_source",
    "source",
    "reason",
    "outcome",
    "level",
    "check",
    "status",
    "severity",
}
DESIGN_LOG_FIELDS = {
    "timestamp",
    "level",
    "logger",
    "message",
    "service_name",
    "trace_id",
    "span_id",
    "request_id",
}
DESIGN_ACCESS_FIELDS = {
    "http_request_method",
    "http_route",
    "url_path",
    "http_response_status_code",
    "duration_seconds",
    "client_address",
}
DESIGN_DATASOURCE_UIDS = {"prometheus", "loki", "tempo", "alertmanager"}
DESIGN_ANNOTATIONS = {"summary", "description", "runbook_url", "dashboard_url"}


def _with(path: str, value: object) -> dict[str, object]:
    """A copy of the raw contract with the value at dotted `path` replaced."""
    document = yaml.safe_load(CONTRACT_FILE.read_text())
    *parents, last = path.split(".")
    node = document
    for key in parents:
        node = node[key]
    node[last] = value
    return document


def _load(tmp_path: Path, document: object) -> None:
    path = tmp_path / "telemetry.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    load(path)


def test_the_contract_loads() -> None:
    contract = current()
    assert contract.metrics
    assert contract.labels
    assert contract.components


def test_the_page_and_the_generated_modules_are_current() -> None:
    stale = [str(p.relative_to(REPO)) for p, text in outputs().items() if p.read_text() != text]
    assert stale == [], "run: python -m contract"


def test_check_mode_names_a_stale_file_and_changes_nothing() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "contract", "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode, result.stdout) == (0, "")
    original = PAGE.read_text()
    try:
        PAGE.write_text(original + "hand edit\n")
        result = subprocess.run(
            [sys.executable, "-m", "contract", "--check"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 1
        assert "stale: contract/README.md" in result.stdout
        assert PAGE.read_text() == original + "hand edit\n"
    finally:
        PAGE.write_text(original)


def test_a_rename_reaches_the_page_and_the_package_modules(tmp_path: Path) -> None:
    path = tmp_path / "telemetry.yaml"
    document = _with("metrics.http_duration.name", "http_request_seconds")
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    renamed = load(path)
    assert "`http_request_seconds`" in render_page(renamed)
    module = render_module(renamed, "sample_service")
    assert '"http_request_seconds"' in module
    assert "http_server_request_duration_seconds" not in module


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("metrics.http_duration.unit", "s", "metrics.http_duration.unit: Extra inputs"),
        ("metrics.cache_errors.name", "cache_errors", "must end in _total"),
        ("metrics.http_active.name", "http_active_total", "must not end in _total"),
        ("metrics.http_duration.buckets", [], "every histogram needs them"),
        ("metrics.http_duration.buckets", [0.1, 0.05], "must increase strictly"),
        ("metrics.http_active.buckets", [1], "buckets belong to histograms"),
        ("metrics.http_active.labels", ["http_verb"], "no label 'http_verb'"),
        ("metrics.http_active.emitted_by", ["nginx"], "emitted_by: no component 'nginx'"),
        (
            "metrics.rate_limit_storage_errors.name",
            "cache_errors_total",
            "is also metrics.cache_errors",
        ),
        ("labels.check.name", "le", "'le' is reserved"),
        ("labels.check.name", "__check", "'__check' is reserved"),
        ("labels.check.name", "status", "a label name repeats"),
        ("components.oncall.port", 9105, "components.oncall.port: also sidecar's"),
        ("components.oncall.port", 70000, "components.oncall.port"),
        ("alerts.severities", {"critical": "pages"}, "alerts.severities: keys must be"),
        ("health.http_status", {"pass": 200, "fail": 503}, "health.http_status: keys must"),
        ("loki.structured_metadata", ["trace"], "'trace' is not a log record field"),
        ("loki.shipped_by", "promtail", "loki.shipped_by: no component 'promtail'"),
        ("grafana.variable", "service_nam", "grafana.variable: no label 'service_nam'"),
        (
            "metrics.inbox_alerts.extra_values",
            {"receiver": ["x"]},
            "extra_values: receiver is not a closed label",
        ),
    ],
)
def test_an_inconsistent_contract_is_refused_naming_the_field(
    tmp_path: Path, path: str, value: object, message: str
) -> None:
    with pytest.raises(ContractError, match=r"telemetry\.yaml") as refused:
        _load(tmp_path, _with(path, value))
    assert message in str(refused.value)


def test_an_unreadable_contract_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "telemetry.yaml"
    path.write_text("components: [\n")
    with pytest.raises(ContractError, match=str(path)):
        load(path)
    result = subprocess.run(
        [sys.executable, "-c", "import contract.model as m; m.load(m.Path('/nonexistent'))"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "ContractError: /nonexistent" in result.stderr


def test_every_name_of_the_original_design_is_kept() -> None:
    contract = current()
    types = {metric.name: metric.type for metric in contract.metrics.values()}
    assert {name: types.get(name) for name in DESIGN_METRICS} == DESIGN_METRICS
    assert contract.metric("http_duration").buckets == DESIGN_BUCKETS
    assert {label.name for label in contract.labels.values()} >= DESIGN_LABELS
    assert set(contract.log_records.fields) >= DESIGN_LOG_FIELDS
    assert set(contract.log_records.access_fields) >= DESIGN_ACCESS_FIELDS
    assert {ds.uid for ds in contract.grafana.datasources.values()} == DESIGN_DATASOURCE_UIDS
    assert set(contract.alerts.annotations) == DESIGN_ANNOTATIONS
    assert contract.labels["telemetry_source"].values == ("access_log",)
    assert contract.labels["health_status"].values == ("pass", "warn", "fail")
    assert contract.labels["severity"].values == ("critical", "warning", "info")
    assert dict(contract.health.http_status) == {"pass": 200, "warn": 200, "fail": 503}
    assert [contract.label(key) for key in contract.loki.stream_labels] == [
        "service_name",
        "level",
        "source",
    ]
    assert contract.loki.structured_metadata == ("trace_id", "span_id")


def test_nothing_in_the_repository_points_at_a_design_document_outside_it() -> None:
    tracked = subprocess.run(
        ["git", "grep", "-l", "DESIGN.md"], cwd=REPO, capture_output=True, text=True, check=False
    ).stdout.split()
    # This file names the document only to say which names it fixed.
    assert set(tracked) == {"tests/contract_checks/test_contract_file.py"}
