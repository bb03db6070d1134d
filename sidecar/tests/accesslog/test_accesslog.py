"""Access-log lines in both formats become http_server_request_duration_seconds samples."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from pydantic import ValidationError
from sidecar.accesslog.config import AccessLogConfig
from sidecar.accesslog.recorder import AccessLogRecorder

NAME = "http_server_request_duration_seconds"


def _recorder(
    registry: CollectorRegistry, service_name: str = "web", **config: Any
) -> AccessLogRecorder:
    return AccessLogRecorder(AccessLogConfig.model_validate(config), service_name, registry)


def _feed_json(recorder: AccessLogRecorder, *records: dict[str, Any]) -> None:
    for record in records:
        recorder.observe(orjson.dumps(record).decode(), record)


def _labels(method: str, route: str, status: str, service: str = "web") -> dict[str, str]:
    return {
        "http_request_method": method,
        "http_route": route,
        "http_response_status_code": status,
        "service_name": service,
        "telemetry_source": "access_log",
    }


def _count(registry: CollectorRegistry, **labels: str) -> float | None:
    return registry.get_sample_value(f"{NAME}_count", _labels(**labels))


def _unparsed(registry: CollectorRegistry, reason: str, service: str = "web") -> float | None:
    return registry.get_sample_value(
        "sidecar_access_log_unparsed_total", {"service_name": service, "reason": reason}
    )


ACCESS = {
    "timestamp": "2026-11-25T10:00:00.000Z",
    "level": "info",
    "message": "request",
    "http_request_method": "GET",
    "http_route": "/api/v1/items/{item_id}",
    "url_path": "/api/v1/items/42",
    "http_response_status_code": 200,
    "duration_seconds": 0.03,
}


def test_json_records_fill_the_histogram_with_design_buckets() -> None:
    registry = CollectorRegistry()
    recorder = _recorder(registry, format="json")
    _feed_json(recorder, ACCESS, ACCESS | {"duration_seconds": 0.3})
    labels = _labels("GET", "/api/v1/items/{item_id}", "200")
    assert registry.get_sample_value(f"{NAME}_count", labels) == 2
    assert registry.get_sample_value(f"{NAME}_sum", labels) == pytest.approx(0.33)
    bucket = {
        le: registry.get_sample_value(f"{NAME}_bucket", labels | {"le": le})
        for le in ("0.025", "0.05", "0.25", "0.5", "+Inf")
    }
    assert bucket == {"0.025": 0, "0.05": 1, "0.25": 1, "0.5": 2, "+Inf": 2}
    text = generate_latest(registry).decode()
    les = [
        line.split('le="')[1].split('"')[0]
        for line in text.splitlines()
        if line.startswith(f"{NAME}_bucket")
    ]
    assert les == [
        "0.005",
        "0.01",
        "0.025",
        "0.05",
        "0.075",
        "0.1",
        "0.25",
        "0.5",
        "0.75",
        "1.0",
        "2.5",
        "5.0",
        "7.5",
        "10.0",
        "+Inf",
    ]


def test_json_url_path_mapped_through_route_patterns() -> None:
    registry = CollectorRegistry()
    recorder = _recorder(
        registry,
        format="json",
        routes=["/users/{id}", "/files/{rest:path}", {"regex": r"/v\d+/ping", "route": "/v*/ping"}],
    )
    base = {k: v for k, v in ACCESS.items() if k != "http_route"}
    _feed_json(
        recorder,
        base | {"url_path": "/users/1"},
        base | {"url_path": "/users/2?x=1"},
        base | {"url_path": "/files/a/b/c.txt"},
        base | {"url_path": "/v2/ping"},
        base | {"url_path": "/users/1/extra"},
        base | {"url_path": "/random/thing"},
    )
    assert _count(registry, method="GET", route="/users/{id}", status="200") == 2
    assert _count(registry, method="GET", route="/files/{rest:path}", status="200") == 1
    assert _count(registry, method="GET", route="/v*/ping", status="200") == 1
    assert _count(registry, method="GET", route="unmatched", status="200") == 2


def test_record_routes_capped_at_max_routes() -> None:
    registry = CollectorRegistry()
    recorder = _recorder(registry, format="json", max_routes=2)
    _feed_json(recorder, *(ACCESS | {"http_route": f"/r{i}"} for i in range(4)))
    _feed_json(recorder, ACCESS | {"http_route": "/r1"})
    assert _count(registry, method="GET", route="/r0", status="200") == 1
    assert _count(registry, method="GET", route="/r1", status="200") == 2
    assert _count(registry, method="GET", route="unmatched", status="200") == 2


def test_methods_normalised_and_unknown_collapsed() -> None:
    registry = CollectorRegistry()
    recorder = _recorder(registry, format="json")
    _feed_json(
        recorder, ACCESS | {"http_request_method": "post"}, ACCESS | {"http_request_method": "FOO"}
    )
    route = ACCESS["http_route"]
    assert _count(registry, method="POST", route=route, status="200") == 1
    assert _count(registry, method="_OTHER", route=route, status="200") == 1


def test_json_non_access_records_are_skipped_and_counted() -> None:
    registry = CollectorRegistry()
    recorder = _recorder(registry, format="json")
    _feed_json(recorder, {"level": "info", "message": "started"})
    assert (
        registry.get_sample_value("sidecar_access_log_skipped_total", {"service_name": "web"}) == 1
    )
    assert _count(registry, method="GET", route=ACCESS["http_route"], status="200") is None


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (None, "not_json"),
        ({k: v for k, v in ACCESS.items() if k != "duration_seconds"}, "missing_field"),
        ({k: v for k, v in ACCESS.items() if k not in ("http_route", "url_path")}, "missing_field"),
        (ACCESS | {"http_response_status_code": "abc"}, "invalid_value"),
        (ACCESS | {"duration_seconds": -1}, "invalid_value"),
        (ACCESS | {"duration_seconds": "slow"}, "invalid_value"),
        (ACCESS | {"http_request_method": 7}, "invalid_value"),
    ],
)
def test_bad_json_lines_counted_by_reason(record: dict[str, Any] | None, reason: str) -> None:
    registry = CollectorRegistry()
    recorder = _recorder(registry, format="json")
    recorder.observe("whatever the line was", record)
    recorder.observe("whatever the line was", record)
    assert _unparsed(registry, reason) == 2
    assert f"{NAME}_count" not in generate_latest(registry).decode()


def test_status_as_string_accepted() -> None:
    registry = CollectorRegistry()
    _feed_json(_recorder(registry, format="json"), ACCESS | {"http_response_status_code": "503"})
    assert _count(registry, method="GET", route=ACCESS["http_route"], status="503") == 1


COMBINED = (
    '203.0.113.9 - alice [25/Nov/2026:10:00:00 +0000] "GET /users/17?tab=1 HTTP/1.1" 200 512 '
    '"https://example.com/a \\"quoted\\"" "curl/8.5" 0.120'
)
COMMON = '127.0.0.1 - - [25/Nov/2026:10:00:01 +0000] "POST /orders HTTP/1.1" 500 - 1.5'


def test_combined_and_common_lines() -> None:
    registry = CollectorRegistry()
    recorder = _recorder(registry, format="combined", routes=["/users/{id}", "/orders"])
    recorder.observe(COMBINED, None)
    recorder.observe(COMMON, None)
    labels = _labels("GET", "/users/{id}", "200")
    assert registry.get_sample_value(f"{NAME}_sum", labels) == pytest.approx(0.12)
    assert registry.get_sample_value(f"{NAME}_bucket", labels | {"le": "0.1"}) == 0
    assert registry.get_sample_value(f"{NAME}_bucket", labels | {"le": "0.25"}) == 1
    assert _count(registry, method="POST", route="/orders", status="500") == 1


def test_combined_request_time_units() -> None:
    registry = CollectorRegistry()
    recorder = _recorder(registry, format="combined", request_time_unit="microseconds")
    recorder.observe(COMMON.replace(" 1.5", " 250000"), None)
    labels = _labels("POST", "unmatched", "500")
    assert registry.get_sample_value(f"{NAME}_sum", labels) == pytest.approx(0.25)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("this is not an access log", "format"),
        ('127.0.0.1 - - [25/Nov/2026:10:00:01 +0000] "-" 400 0 0.001', "format"),
        ('127.0.0.1 - - [25/Nov/2026:10:00:01 +0000] "GET / HTTP/1.1" 200 5', "missing_field"),
        ('127.0.0.1 - - [25/Nov/2026:10:00:01 +0000] "GET / HTTP/1.1" 200 5 -', "invalid_value"),
        ("", "format"),
    ],
)
def test_bad_combined_lines_counted_by_reason(line: str, reason: str) -> None:
    registry = CollectorRegistry()
    _recorder(registry, format="combined").observe(line, None)
    assert _unparsed(registry, reason) == 1


def test_recorders_share_metrics_per_registry() -> None:
    registry = CollectorRegistry()
    web = _recorder(registry, "web", format="json")
    nginx = _recorder(registry, "edge", format="combined", routes=["/users/{id}"])
    _feed_json(web, ACCESS)
    nginx.observe(COMBINED, None)
    nginx.observe("garbage", None)
    assert _count(registry, method="GET", route=ACCESS["http_route"], status="200") == 1
    assert _count(registry, method="GET", route="/users/{id}", status="200", service="edge") == 1
    assert _unparsed(registry, "format", service="edge") == 1
    # A separate registry has its own collectors.
    other = CollectorRegistry()
    _feed_json(_recorder(other, format="json"), ACCESS)
    assert _count(other, method="GET", route=ACCESS["http_route"], status="200") == 1
    assert _count(registry, method="GET", route=ACCESS["http_route"], status="200") == 1


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"format": "xml"}, "format"),
        ({}, "format"),
        ({"format": "json", "routes": ["users/{id}"]}, "routes"),
        ({"format": "json", "routes": ["/users/{id"]}, "routes"),
        (
            {"format": "json", "routes": [{"regex": "(", "route": "/x"}]},
            "routes.0.RegexRoute.regex",
        ),
        ({"format": "combined", "request_time_unit": "hours"}, "request_time_unit"),
        ({"format": "json", "max_routes": 0}, "max_routes"),
        ({"format": "json", "colour": "red"}, "colour"),
    ],
)
def test_config_errors_name_the_field(config: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        AccessLogConfig.model_validate(config)
    assert any(
        ".".join(str(part) for part in error["loc"]).startswith(field)
        for error in caught.value.errors()
    ), caught.value


@pytest.mark.parametrize(
    ("fmt", "reasons"),
    [
        ("json", {"not_json", "missing_field", "invalid_value"}),
        ("combined", {"format", "missing_field", "invalid_value"}),
    ],
)
def test_unparsed_and_skipped_counters_exist_at_zero_before_any_line(
    fmt: str, reasons: set[str]
) -> None:
    registry = CollectorRegistry()
    _recorder(registry, format=fmt)
    for reason in reasons:
        assert _unparsed(registry, reason) == 0
    skipped = registry.get_sample_value("sidecar_access_log_skipped_total", {"service_name": "web"})
    assert skipped == 0


def _series(registry: CollectorRegistry) -> list[tuple[dict[str, str], float]]:
    return [
        (sample.labels, sample.value)
        for family in registry.collect()
        if family.name == NAME
        for sample in family.samples
        if sample.name == f"{NAME}_count"
    ]


def _collapsed(registry: CollectorRegistry, reason: str) -> float | None:
    return registry.get_sample_value(
        "sidecar_access_log_collapsed_total", {"service_name": "web", "reason": reason}
    )


def test_crafted_records_cannot_grow_the_series_without_bound() -> None:
    """Finding 7: status x method x long routes gave 2,556 series and routes of 1,000+ chars."""
    registry = CollectorRegistry()
    recorder = _recorder(registry, format="json")
    methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "BREW"]
    records = [
        ACCESS
        | {
            "http_request_method": methods[n % len(methods)],
            "http_response_status_code": 100 + n % 500,
            "http_route": f"/r{n % 100}" + ("/x" * 600 if n % 3 == 0 else ""),
        }
        for n in range(3000)
    ]
    _feed_json(recorder, *records)
    series = _series(registry)
    assert len(series) <= 2001  # max_series (default 2,000) plus one overflow series
    assert max(len(labels["http_route"]) for labels, _ in series) <= 200
    assert _collapsed(registry, "route_too_long") == 1000
    assert _collapsed(registry, "max_series") > 0
    # Every request is still counted, in some series.
    assert sum(count for _, count in series) == 3000
    assert len(generate_latest(registry)) < 2001 * 3500  # ~3.4 KB of /metrics per series


def test_status_outside_100_599_is_recorded_as_other() -> None:
    registry = CollectorRegistry()
    recorder = _recorder(registry, format="json")
    _feed_json(recorder, ACCESS | {"http_response_status_code": 42})
    _recorder(registry, "web2", format="combined").observe(
        '127.0.0.1 - - [25/Nov/2026:10:00:01 +0000] "GET / HTTP/1.1" 999 5 0.1', None
    )
    assert _count(registry, method="GET", route=ACCESS["http_route"], status="other") == 1
    assert _count(registry, method="GET", route="unmatched", status="other", service="web2") == 1
    assert _unparsed(registry, "invalid_value") == 0
