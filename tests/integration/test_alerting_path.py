"""From an injected fault to a webhook delivery, with the real binaries.

The sample service, the sidecar, Prometheus and Alertmanager run on loopback
(tests/integration/alerting_stack.py). Prometheus runs what stack-config
renders from the project's services file, with the rules through
`compress_rule_time` (every `for:` and range divided by 60), and Alertmanager
the project's routing through `fast_alertmanager_timings` (group_wait 1s,
group_interval 2s); labels, thresholds, routes and inhibitions are the
production ones.

Each page's measured fault-to-notification time is checked against the
worst case of tests/prometheus/page_delays.py, the model behind the figures in
prometheus/README.md, fed the compressed rules and the test's timings: the
real binaries must not be slower than the model says. Measured and computed
times are printed (run with -s to see them).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sidecar.services.loader import load

from tests.integration.alerting_stack import (
    CHECK_FAILURE_THRESHOLD,
    CHECK_INTERVAL_SECONDS,
    GROUP_WAIT,
    INTERVAL,
    SERVICE,
    AlertingStack,
    Traffic,
    alerting_stack,
    wait_until,
)
from tests.integration.transforms import parse_duration
from tests.prometheus.page_delays import Timings, page_delays
from tests.prometheus.rules import SERVICES_FILE
from tests.support.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.integration

SYMPTOMS = ("HighErrorRate", "AvailabilityBudgetBurn", "HealthCheckFailing", "ServiceDown")
# The injected fault: half the requests fail.
ERROR_RATE = 0.5
# What the model leaves out and a shared 2-core machine adds: HTTP between the
# processes and their scheduling. One compressed evaluation interval.
TOLERANCE_SECONDS = 1.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AlertingStack]:
    workdir: Path = tmp_path_factory.mktemp("alerting-path")
    with alerting_stack(workdir) as running, Traffic(running.service.url, rate=20):
        yield running


def find(
    notifications: list[dict[str, Any]], alertname: str, status: str, since: float, **labels: str
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The first (notification, alert) after `since` for that alert in that status."""
    for notification in notifications:
        if notification["_received_at"] < since:
            continue
        for alert in notification["alerts"]:
            if (
                alert["labels"]["alertname"] == alertname
                and alert["status"] == status
                and all(alert["labels"].get(k) == v for k, v in labels.items())
            ):
                return notification, alert
    return None


def await_notification(
    hook: WebhookReceiver, alertname: str, status: str, since: float, timeout: float, **labels: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    hook.wait_for(lambda seen: find(seen, alertname, status, since, **labels) is not None, timeout)
    found = find(hook.notifications, alertname, status, since, **labels)
    alerts = [alert for n in hook.notifications for alert in n["alerts"]]
    seen = [(alert["labels"]["alertname"], alert["status"]) for alert in alerts]
    assert found is not None, f"no {status} {alertname} {labels} within {timeout}s; got {seen}"
    return found


def report(alert: str, seconds: float) -> None:
    print(f"\nMEASURED {alert}: {seconds:.1f}s (test timings, 60x compressed)")


def worst_case(stack: AlertingStack, page: str, bad: float = 1.0) -> float:
    """The model's worst case for `page` with the rules and timings this test runs."""
    rules = [yaml.safe_load(p.read_text()) for p in sorted(stack.rules_dir.glob("*.rules.yml"))]
    timings = Timings(
        scrape=parse_duration(INTERVAL),
        evaluation=parse_duration(INTERVAL),
        group_wait=parse_duration(GROUP_WAIT),
        check_interval=CHECK_INTERVAL_SECONDS,
        failure_threshold=CHECK_FAILURE_THRESHOLD,
    )
    (slo,) = (s.slo for s in load(SERVICES_FILE).services if s.name == SERVICE)
    objectives = {"availability": slo.availability.objective, "latency": slo.latency.objective}
    return next(d.seconds for d in page_delays(rules, timings, objectives, bad) if d.page == page)


def check_page_delay(stack: AlertingStack, page: str, measured: float, bad: float = 1.0) -> None:
    bound = worst_case(stack, page, bad)
    print(f"COMPUTED worst case {page}: {bound:.1f}s (+{TOLERANCE_SECONDS:g}s tolerance)")
    assert measured <= bound + TOLERANCE_SECONDS, (
        f"{page} took {measured:.1f}s; the worst-case model allows {bound:.1f}s "
        f"(+{TOLERANCE_SECONDS:g}s): prometheus/README.md's figures no longer hold"
    )


def query(stack: AlertingStack, promql: str) -> list[dict[str, Any]]:
    url = f"{stack.prometheus_url}/api/v1/query"
    return httpx.get(url, params={"query": promql}, timeout=5).json()["data"]["result"]


def firing_in_prometheus(stack: AlertingStack) -> list[dict[str, Any]]:
    promql = f'ALERTS{{alertstate="firing",service_name="{SERVICE}"}}'
    return [sample["metric"] for sample in query(stack, promql)]


def assert_contract(notification: dict[str, Any], alert: dict[str, Any], receiver: str) -> None:
    assert notification["receiver"] == receiver
    assert notification["groupLabels"] == {
        "alertname": alert["labels"]["alertname"],
        "service_name": SERVICE,
    }
    assert alert["labels"]["service_name"] == SERVICE
    name = alert["labels"]["alertname"]
    annotations = alert["annotations"]
    assert annotations["runbook_url"].endswith(f"/runbooks/{name}.md")
    assert annotations["dashboard_url"].endswith(f"?var-service_name={SERVICE}")
    assert SERVICE in annotations["description"]


def test_healthy_traffic_raises_no_symptom_alert(stack: AlertingStack) -> None:
    time.sleep(5)  # several evaluations of every rule on healthy traffic
    assert [a for a in firing_in_prometheus(stack) if a["alertname"] in SYMPTOMS] == []
    assert find(stack.webhook.notifications, "HighErrorRate", "firing", 0) is None
    # The SLO rules see the real service: its `le` labels match the spec's threshold.
    for record in (
        "service_name:slo_latency_errors:ratio_rate5m",
        "service_name:slo_availability_errors:ratio_rate5m",
    ):
        samples = query(stack, f'{record}{{service_name="{SERVICE}"}}')
        assert len(samples) == 1, record
        assert float(samples[0]["value"][1]) < 0.01, record


def test_error_injection_pages_and_tickets_then_resolves(stack: AlertingStack) -> None:
    hook = stack.webhook
    fault_on = time.time()
    stack.service.set_fault(ERROR_RATE)

    notification, alert = await_notification(
        hook, "AvailabilityBudgetBurn", "firing", fault_on, 60, severity="critical"
    )
    report("AvailabilityBudgetBurn (page)", notification["_received_at"] - fault_on)
    check_page_delay(
        stack, "AvailabilityBudgetBurn", notification["_received_at"] - fault_on, ERROR_RATE
    )
    assert_contract(notification, alert, "page")
    assert alert["labels"]["slo"] == "availability"

    notification, alert = await_notification(hook, "HighErrorRate", "firing", fault_on, 60)
    report("HighErrorRate (ticket)", notification["_received_at"] - fault_on)
    assert_contract(notification, alert, "ticket")
    assert alert["labels"]["severity"] == "warning"

    fault_off = time.time()
    stack.service.clear_fault()
    notification, _ = await_notification(hook, "HighErrorRate", "resolved", fault_off, 60)
    report("HighErrorRate resolved", notification["_received_at"] - fault_off)
    notification, _ = await_notification(
        hook, "AvailabilityBudgetBurn", "resolved", fault_off, 90, severity="critical"
    )
    report("AvailabilityBudgetBurn (page) resolved", notification["_received_at"] - fault_off)


def test_failing_health_check_pages_then_resolves(stack: AlertingStack) -> None:
    hook = stack.webhook
    broken = time.time()
    stack.dependency.healthy = False

    notification, alert = await_notification(
        hook, "HealthCheckFailing", "firing", broken, 60, check="upstream"
    )
    report("HealthCheckFailing (page)", notification["_received_at"] - broken)
    check_page_delay(stack, "HealthCheckFailing", notification["_received_at"] - broken)
    assert_contract(notification, alert, "page")
    assert alert["labels"]["severity"] == "critical"

    fixed = time.time()
    stack.dependency.healthy = True
    notification, _ = await_notification(
        hook, "HealthCheckFailing", "resolved", fixed, 60, check="upstream"
    )
    report("HealthCheckFailing resolved", notification["_received_at"] - fixed)


def _inhibited_in_alertmanager(stack: AlertingStack, alertname: str) -> list[dict[str, Any]]:
    params = {"filter": [f'alertname="{alertname}"', f'service_name="{SERVICE}"']}
    alerts = httpx.get(f"{stack.alertmanager_url}/api/v2/alerts", params=params, timeout=5).json()
    return [alert for alert in alerts if alert["status"]["inhibitedBy"]]


def test_service_down_pages_inhibits_the_rest_then_resolves(stack: AlertingStack) -> None:
    hook = stack.webhook
    down = time.time()
    stack.service.stop()

    notification, alert = await_notification(hook, "ServiceDown", "firing", down, 60)
    report("ServiceDown (page)", notification["_received_at"] - down)
    check_page_delay(stack, "ServiceDown", notification["_received_at"] - down)
    assert_contract(notification, alert, "page")
    assert alert["labels"]["job"] == "sample_service"

    # The readiness check fails too: Alertmanager holds it, inhibited, and never sends it.
    wait_until(
        "HealthCheckFailing to reach Alertmanager, inhibited by ServiceDown",
        lambda: _inhibited_in_alertmanager(stack, "HealthCheckFailing"),
        60,
    )
    time.sleep(4)  # two group_intervals: time enough for a notification to go out
    sent = hook.notifications
    assert find(sent, "HealthCheckFailing", "firing", down) is None
    assert find(sent, "TargetScrapeFailing", "firing", down, service_name=SERVICE) is None
    firing = {a["alertname"] for a in firing_in_prometheus(stack)}
    assert {"ServiceDown", "HealthCheckFailing"} <= firing

    back = time.time()
    stack.service.start()
    notification, _ = await_notification(hook, "ServiceDown", "resolved", back, 60)
    report("ServiceDown resolved", notification["_received_at"] - back)
