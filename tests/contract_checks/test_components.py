"""The real sample service, sidecar and alert inbox speak the contract.

All three run as processes, as in tests/grafana's live stack (the same helpers): the
service exports traces to a real Tempo, the sidecar ships the service's log (as logs,
and again as an access log for a second service name) and the inbox's records to a
real Loki and health-checks the service, and follows a services file listing a text
source with multiline records. After some traffic (known methods, one the
contract does not know, an unmatched path) and one notification, each component's
/metrics, health answers and log records are compared with contract/telemetry.yaml:
every family it exports is the contract's, with the contract's type, labels, closed
label values and buckets, and every metric the contract gives it is exported.

The streams the sidecar pushed are read back from Loki: their labels and structured
metadata are the contract's. Constants no run can provoke (every known method, the
default port) are imported and compared.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from contract import current
from tests.grafana.processes import Running, oncall, sample_service, sidecar
from tests.support.loki import LokiClient, loki, now_ns
from tests.support.tempo import tempo

pytestmark = pytest.mark.integration

CONTRACT = current()
COMPONENTS = ("sample_service", "sidecar", "oncall")
ACCESS_LOG_SERVICE = "access-log-service"
MULTILINE_SERVICE = "multiline-service"
UNKNOWN_METHOD = "PURGE"
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
HEX = {"trace_id": re.compile(r"[0-9a-f]{32}"), "span_id": re.compile(r"[0-9a-f]{16}")}
NOTIFICATION = {
    "version": "4",
    "status": "firing",
    "receiver": "page",
    "groupKey": '{}:{alertname="ServiceDown"}',
    "groupLabels": {"alertname": "ServiceDown"},
    "commonLabels": {"alertname": "ServiceDown", "severity": "critical"},
    "externalURL": "http://alertmanager:9093",
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "ServiceDown", "severity": "critical"},
            "annotations": {"summary": "The service cannot be scraped."},
            "startsAt": "2026-01-01T00:00:00Z",
            "fingerprint": "0123456789abcdef",
        }
    ],
}


@dataclass
class Stack:
    urls: dict[str, str]
    # component -> the files of JSON log records it wrote
    logs: dict[str, Path]
    loki: LokiClient


def _families(url: str) -> dict[str, tuple[str, list[Sample]]]:
    """Series name as queried (counters with _total) -> (type, samples), runtime
    collectors left out."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    families = list(text_string_to_metric_families(text))
    # prometheus_client writes each counter's and histogram's creation time as a gauge
    # family of its own, <name>_created, in the text format.
    created = {f"{f.name}_created" for f in families if f.type in {"counter", "histogram"}}
    out = {}
    for family in families:
        name = f"{family.name}_total" if family.type == "counter" else family.name
        if family.name not in created and not name.startswith(CONTRACT.runtime_metric_prefixes):
            out[name] = (family.type, list(family.samples))
    return out


def _exported(url: str, component: str) -> set[str]:
    """The contract metrics of `component` that have at least one sample at `url`."""
    families = _families(url)
    wanted = {m.name for m in CONTRACT.metrics_of(component).values()}
    return {name for name in wanted if families.get(name, ("", []))[1]}


def _wait_for_every_metric(url: str, component: str, timeout: float = 60) -> None:
    wanted = {m.name for m in CONTRACT.metrics_of(component).values()}
    deadline = time.monotonic() + timeout
    while (missing := wanted - _exported(url, component)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not missing, f"{component} never exported {sorted(missing)}"


def _traffic(service: str, inbox: str) -> None:
    with httpx.Client(base_url=service, timeout=10) as client:
        for method in ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"):
            client.request(method, "/api/v1/items")
        client.request(UNKNOWN_METHOD, "/api/v1/items")
        client.get("/no-such-route")
    httpx.post(f"{inbox}/alerts", json=NOTIFICATION, timeout=10).raise_for_status()


def _multiline_services_file(workdir: Path) -> Path:
    """A services file with one text source whose records span lines: the sidecar then
    exports its services-file and joined-lines series too."""
    logs = workdir / "text-logs"
    logs.mkdir()
    (logs / "app.log").write_text(
        "2026-11-30T10:00:00.000Z ERROR failed\nTraceback (most recent call last):\n"
        "2026-11-30T10:00:01.000Z INFO next\n"
    )
    path = workdir / "services.yaml"
    service = {
        "name": MULTILINE_SERVICE,
        "logs": [
            {
                "paths": [str(logs / "*.log")],
                "format": "text",
                "multiline": {"start": r"^\d{4}-"},
            }
        ],
    }
    path.write_text(json.dumps({"services": [service]}))
    return path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("contract-components")
    with ExitStack() as context:
        traces = context.enter_context(tempo(workdir))
        logs = context.enter_context(loki(workdir))
        service: Running = context.enter_context(sample_service(workdir, traces.otlp_http_url))
        inbox = context.enter_context(oncall(workdir))
        inbox_log = inbox.extra["log_file"]
        side = context.enter_context(
            sidecar(
                workdir,
                logs.push_url,
                service,
                ACCESS_LOG_SERVICE,
                inbox_log,
                _multiline_services_file(workdir),
            )
        )
        _traffic(service.url, inbox.url)
        # The only metrics with labels that exist before an event; wait for the events.
        _wait_for_every_metric(side.url, "sidecar")
        yield Stack(
            urls={"sample_service": service.url, "sidecar": side.url, "oncall": inbox.url},
            logs={
                "sample_service": service.extra["log_file"],
                "oncall": inbox_log,
                "sidecar": side.log,
            },
            loki=logs,
        )


def _labels(sample: Sample, histogram: bool) -> set[str]:
    return set(sample.labels) - ({"le"} if histogram and sample.name.endswith("_bucket") else set())


@pytest.mark.parametrize("component", COMPONENTS)
def test_every_family_a_component_exports_is_the_contract_s(stack: Stack, component: str) -> None:
    by_name = {m.name: (key, m) for key, m in CONTRACT.metrics_of(component).items()}
    families = _families(stack.urls[component])
    assert sorted(set(families) - set(by_name)) == [], "exported but not in the contract"
    assert sorted(set(by_name) - set(families)) == [], "in the contract but not exported"
    wrong = []
    for name, (kind, samples) in families.items():
        key, metric = by_name[name]
        if kind != metric.type:
            wrong.append(f"{name}: {kind}, the contract says {metric.type}")
        labels = set(CONTRACT.metric_labels(key, component))
        for sample in samples:
            if sample.name.endswith("_created"):
                continue
            if _labels(sample, metric.type == "histogram") != labels:
                wrong.append(f"{name}: labels {sorted(sample.labels)}, contract {sorted(labels)}")
                break
    assert wrong == []


@pytest.mark.parametrize("component", COMPONENTS)
def test_closed_label_values_are_the_contract_s(stack: Stack, component: str) -> None:
    by_name = {m.name: (key, m) for key, m in CONTRACT.metrics_of(component).items()}
    seen, wrong = 0, []
    for name, (_, samples) in _families(stack.urls[component]).items():
        key, metric = by_name[name]
        ids = (*metric.labels, *metric.extra_labels.get(component, ()))
        closed = {CONTRACT.label(i): CONTRACT.label_values(key, i) for i in ids}
        for sample in samples:
            for label, value in sample.labels.items():
                if closed.get(label):
                    seen += 1
                    if value not in closed[label]:
                        wrong.append(f"{name}{{{label}={value!r}}}")
    assert wrong == []
    if component != "sample_service":  # its metrics carry no closed label
        assert seen, "no closed label value was checked"


@pytest.mark.parametrize("component", ["sample_service", "sidecar"])
def test_request_metrics_have_the_contract_s_buckets_and_methods(
    stack: Stack, component: str
) -> None:
    metric = CONTRACT.metric("http_duration")
    _, samples = _families(stack.urls[component])[metric.name]
    buckets = {s.labels["le"] for s in samples if s.name.endswith("_bucket")}
    assert sorted(float(b) for b in buckets - {"+Inf"}) == list(metric.buckets)
    methods = {s.labels[CONTRACT.label("http_method")] for s in samples}
    assert CONTRACT.http.other_method in methods, f"{UNKNOWN_METHOD} was not collapsed"
    assert methods <= {*CONTRACT.http.known_methods, CONTRACT.http.other_method}
    routes = {s.labels[CONTRACT.label("http_route")] for s in samples}
    assert CONTRACT.http.unmatched_route in routes


def test_the_sidecar_marks_the_metrics_it_derives_from_an_access_log(stack: Stack) -> None:
    _, samples = _families(stack.urls["sidecar"])[CONTRACT.metric("http_duration").name]
    sources = {
        (s.labels[CONTRACT.label("service")], s.labels[CONTRACT.label("telemetry_source")])
        for s in samples
    }
    assert sources == {(ACCESS_LOG_SERVICE, "access_log")}


def test_the_sidecar_s_own_constants_are_the_contract_s() -> None:
    # Imported, not read from its output: the values a test above cannot provoke
    # (every known method; the default port, which tests always override). The generated
    # module is checked for staleness; this checks the code takes its values from it.
    from sidecar.accesslog.metrics import DURATION_BUCKETS
    from sidecar.accesslog.parsers import OTHER_STATUS
    from sidecar.accesslog.recorder import KNOWN_METHODS, OTHER_METHOD, TELEMETRY_SOURCE
    from sidecar.accesslog.routes import UNMATCHED_ROUTE
    from sidecar.health.healthjson import MEDIA_TYPE
    from sidecar.shipping.config import RESERVED_LABELS

    from sidecar.config import ServerConfig

    http = CONTRACT.http
    assert frozenset(http.known_methods) == KNOWN_METHODS
    assert (http.other_method, http.unmatched_route) == (OTHER_METHOD, UNMATCHED_ROUTE)
    assert CONTRACT.metric("http_duration").buckets == DURATION_BUCKETS
    assert CONTRACT.labels["telemetry_source"].values == (TELEMETRY_SOURCE,)
    assert http.other_status == OTHER_STATUS
    assert ServerConfig().port == CONTRACT.components["sidecar"].port
    assert CONTRACT.health.media_type == MEDIA_TYPE
    assert {CONTRACT.label(key) for key in CONTRACT.loki.stream_labels} == RESERVED_LABELS


def test_the_streams_in_loki_carry_the_contract_s_labels_and_metadata(stack: Stack) -> None:
    since = now_ns() - 3600 * 10**9
    # The service's records carry trace ids: once one is in, the others are shipped too.
    stack.loki.wait_for_entries('{source=~".+"} | trace_id=~".+"', 1, since)
    entries = stack.loki.query_range('{source=~".+"}', since, now_ns())
    assert CONTRACT.loki.shipped_by == "sidecar"  # the component these streams come from
    stream_labels = {CONTRACT.label(key) for key in CONTRACT.loki.stream_labels}
    label_sets = {frozenset(entry.labels) for entry in entries}
    assert label_sets == {frozenset(stream_labels)}, label_sets
    metadata = {key for entry in entries for key in entry.metadata}
    # Trace and span ids arrive as metadata, and nothing else the sidecar sends does;
    # Loki adds detected_level itself (limits_config.discover_log_levels, on by default,
    # which Grafana's Logs Drilldown reads).
    assert metadata - {"detected_level"} == set(CONTRACT.loki.structured_metadata), metadata


def _check_health(url: str) -> list[str]:
    health, wrong = CONTRACT.health, []
    response = httpx.get(url, timeout=10)
    media_type = response.headers["content-type"].split(";")[0].strip()
    if media_type != health.media_type:
        wrong.append(f"{url}: Content-Type {media_type}")
    body = response.json()
    if response.status_code != health.http_status.get(body.get("status"), -1):
        wrong.append(f"{url}: HTTP {response.status_code} for status {body.get('status')!r}")
    required = {k for k, field in health.fields.items() if field.required}
    wrong += [f"{url}: no {k}" for k in sorted(required - set(body))]
    wrong += [f"{url}: unknown field {k}" for k in sorted(set(body) - set(health.fields))]
    check_required = {k for k, field in health.check_fields.items() if field.required}
    for name, entries in body.get("checks", {}).items():
        for entry in entries:
            fields = set(entry)
            wrong += [f"{url}: {name}: no {k}" for k in sorted(check_required - fields)]
            unknown = sorted(fields - set(health.check_fields))
            wrong += [f"{url}: {name}: unknown field {k}" for k in unknown]
            if entry.get("status") not in health.http_status:
                wrong.append(f"{url}: {name}: status {entry.get('status')!r}")
    return wrong


def _health_endpoints() -> list[Any]:
    """(component, path) of every health endpoint; the sidecar's /health too (the
    aggregate, with one entry per check it runs)."""
    pairs = [(c, path) for c in COMPONENTS for path in CONTRACT.health.endpoints]
    pairs.append(("sidecar", "/health"))
    return pairs


@pytest.mark.parametrize(("component", "path"), _health_endpoints())
def test_health_answers_are_the_contract_s(stack: Stack, component: str, path: str) -> None:
    if path == "/health":
        body = httpx.get(f"{stack.urls[component]}/health", timeout=10).json()
        assert body["checks"], "the sidecar's /health lists no check to compare"
    assert _check_health(stack.urls[component] + path) == []


def _records(path: Path) -> list[dict[str, Any]]:
    lines = path.read_text().splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def _record_problems(record: dict[str, Any], fields: dict[str, Any]) -> list[str]:
    problems = [f"no {k}" for k, field in fields.items() if field.required and k not in record]
    if "timestamp" in fields and not TIMESTAMP.fullmatch(str(record.get("timestamp"))):
        problems.append(f"timestamp {record.get('timestamp')!r}")
    if "level" in fields and str(record.get("level")) != str(record.get("level")).lower():
        problems.append(f"level {record.get('level')!r}")
    for key, pattern in HEX.items():
        if key in record and not pattern.fullmatch(str(record[key])):
            problems.append(f"{key} {record[key]!r}")
    return problems


@pytest.mark.parametrize("component", COMPONENTS)
def test_log_records_have_the_contract_s_fields(stack: Stack, component: str) -> None:
    records = _records(stack.logs[component])
    assert records, f"{component} wrote no JSON record"
    wrong = [
        f"{record.get('message')!r}: {problem}"
        for record in records
        for problem in _record_problems(record, CONTRACT.log_records.fields)
    ]
    assert wrong == []
    own = CONTRACT.components[component].service_name
    if own is not None:
        assert {record["service_name"] for record in records} == {own}


def test_the_service_s_access_records_have_the_access_fields(stack: Stack) -> None:
    records = _records(stack.logs["sample_service"])
    access = [record for record in records if "http_route" in record]
    assert len(access) >= 9, "one access record per request"
    fields = CONTRACT.log_records.access_fields
    wrong = [
        f"{record['message']!r}: {problem}"
        for record in access
        for problem in _record_problems(record, fields)
    ]
    assert wrong == []
    assert all(isinstance(record["http_response_status_code"], int) for record in access)
    assert all(isinstance(record["duration_seconds"], float) for record in access)
    assert any("trace_id" in record and "span_id" in record for record in access)
    methods = {record["http_request_method"] for record in access}
    assert methods >= {CONTRACT.http.other_method, "PATCH"}, f"{UNKNOWN_METHOD} is the other"
