"""Every alert follows the telemetry contract (contract/telemetry.yaml) and is covered by
promtool tests."""

from __future__ import annotations

import re
from urllib.parse import urlparse

import pytest
import yaml

from contract import current
from tests.prometheus.rules import (
    RUNBOOKS_DIR,
    alert_names,
    alert_rules,
    all_rules,
    generate,
    promtool_alert_cases,
    render,
    rendered,
)

CONTRACT = current()
DASHBOARD_UIDS = {dashboard.uid for dashboard in CONTRACT.grafana.dashboards.values()}
SEVERITY = CONTRACT.label("severity")
ALERT_LABELS = {CONTRACT.label(key) for key in CONTRACT.alerts.labels}
ALERTS = alert_rules()
ALERT_IDS = [f"{rule['alert']}-{rule['labels'].get('severity')}" for rule in ALERTS]


def test_the_issue_s_alerts_all_exist() -> None:
    assert set(alert_names()) >= {
        "AvailabilityBudgetBurn",
        "LatencyBudgetBurn",
        "HighErrorRate",
        "HighLatencyP99",
        "ServiceDown",
        "HealthCheckFailing",
        "AggregateHealthDegraded",
        "ErrorLogSpike",
        "LogShippingStalled",
        "LogLinesDropped",
        "LogBacklogGrowing",
        "LogShippingProcessFailing",
        "PrometheusConfigReloadFailed",
        "ServicesFileRejected",
        "PrometheusRuleEvaluationFailures",
        "PrometheusNotConnectedToAlertmanager",
        "AlertmanagerNotificationsFailing",
        "TargetScrapeFailing",
        "Watchdog",
    }


@pytest.mark.parametrize("rule", ALERTS, ids=ALERT_IDS)
def test_alert_labels_and_annotations(rule: dict) -> None:
    name = rule["alert"]
    assert re.fullmatch(CONTRACT.alerts.name_pattern, name), "alert names are CamelCase"
    assert rule["labels"][SEVERITY] in CONTRACT.alerts.severities
    annotations = rule["annotations"]
    assert set(annotations) == set(CONTRACT.alerts.annotations)
    assert "{{" not in annotations["summary"], "summary is a static sentence"
    assert re.search(r"\{\{ (\$labels|\$value|\$externalURL)", annotations["description"])
    assert annotations["runbook_url"] == f"{generate.DEFAULT_RUNBOOK_BASE_URL}/{name}.md"
    dashboard = urlparse(annotations["dashboard_url"])
    assert f"{dashboard.scheme}://{dashboard.netloc}" == generate.DEFAULT_GRAFANA_URL
    assert dashboard.path.removeprefix("/d/") in DASHBOARD_UIDS
    assert dashboard.query.startswith("var-service_name=")


@pytest.mark.parametrize("name", alert_names())
def test_every_alert_has_a_runbook(name: str) -> None:
    runbook = RUNBOOKS_DIR / f"{name}.md"
    assert runbook.is_file()
    text = runbook.read_text()
    assert text.startswith(f"# {name}\n")
    for section in ("## What it means", "## How to confirm it", "## What to do"):
        assert section in text


@pytest.mark.parametrize("name", alert_names())
def test_every_alert_has_firing_and_silent_promtool_cases(name: str) -> None:
    cases = [case for case in promtool_alert_cases() if case["alertname"] == name]
    firing = [case for case in cases if case.get("exp_alerts")]
    assert firing, f"no promtool case where {name} fires"
    if name != "Watchdog":  # fires by design, always
        assert any(not case.get("exp_alerts") for case in cases), f"no case where {name} is silent"
    for case in firing:
        for alert in case["exp_alerts"]:
            assert set(alert["exp_labels"]) >= ALERT_LABELS
            assert set(alert["exp_annotations"]) == set(CONTRACT.alerts.annotations)


def test_every_severity_of_every_alert_is_exercised() -> None:
    fired = {
        (case["alertname"], alert["exp_labels"]["severity"])
        for case in promtool_alert_cases()
        for alert in case.get("exp_alerts") or []
    }
    defined = {(rule["alert"], rule["labels"]["severity"]) for rule in ALERTS}
    assert defined - fired == set()


def test_recording_rules_of_the_contract_exist() -> None:
    recorded = {rule["record"] for rule in all_rules() if "record" in rule}
    expected = {
        "service_name:http_server_requests:rate5m",
        "service_name_http_route:http_server_requests:rate5m",
        "service_name:http_server_request_errors:ratio_rate5m",
        "service_name_http_route:http_server_request_errors:ratio_rate5m",
    }
    for prefix in ("service_name", "service_name_http_route"):
        for quantile in ("p50", "p95", "p99"):
            expected.add(f"{prefix}:http_server_request_duration_seconds:{quantile}_rate5m")
    for window in ("5m", "30m", "1h", "2h", "6h", "1d", "3d"):
        expected.add(f"service_name:slo_availability_errors:ratio_rate{window}")
        expected.add(f"service_name:slo_latency_errors:ratio_rate{window}")
    assert expected - recorded == set()


def test_the_objectives_the_rules_read_are_rendered_per_service() -> None:
    rules = yaml.safe_load(rendered()[render.OBJECTIVES_FILE])["groups"][0]["rules"]
    series = {(rule["record"], tuple(sorted(rule["labels"].items()))) for rule in rules}
    service = ("service_name", "sample-service")
    assert series == {
        ("slo:objective:ratio", (service, ("slo", "availability"))),
        ("slo:objective:ratio", (("le", "0.5"), service, ("slo", "latency"))),
        ("slo:request_rate:min", (service,)),
        ("symptom:error_ratio:max", (service,)),
        ("symptom:latency_p99_seconds:max", (service,)),
        ("service:metrics_target:info", (service,)),
    }
    # Every per-service series a committed rule reads is one the renderer writes.
    read = "\n".join(str(rule["expr"]) for rule in all_rules())
    for record in {rule["record"] for rule in rules}:
        assert record in read, f"{record} is rendered but no rule reads it"


def test_no_page_waits_on_a_long_for() -> None:
    # The short window of a multi-window burn rate is the flap guard (SRE
    # workbook); HealthCheckFailing's minute of failing samples is its own.
    for rule in alert_rules():
        if rule["alert"] in ("AvailabilityBudgetBurn", "LatencyBudgetBurn", "HealthCheckFailing"):
            assert "for" not in rule, rule["alert"]


def test_rules_select_services_by_service_name_never_by_job() -> None:
    for rule in all_rules():
        expr = str(rule["expr"])
        name = rule.get("record") or rule["alert"]
        assert "by (job" not in expr, name
        assert 'job="' not in expr, name
