"""/metrics per the telemetry contract: names, labels, exact buckets, route templates,
OpenMetrics exemplars."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from prometheus_client.parser import text_string_to_metric_families as text_families
from sample_service.services import audit

from sample_service import telemetry_contract

DESIGN_BUCKETS = list(telemetry_contract.HTTP_DURATION.buckets)
OPENMETRICS = "application/openmetrics-text; version=1.0.0"


def _samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    samples: dict[tuple[tuple[str, str], ...], float] = {}
    for family in text_families(text):
        for sample in family.samples:
            if sample.name == name:
                samples[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def _count(text: str, method: str, route: str, status: str) -> float | None:
    key = (
        ("http_request_method", method),
        ("http_response_status_code", status),
        ("http_route", route),
    )
    return _samples(text, "http_server_request_duration_seconds_count").get(key)


def test_counts_after_known_requests(client: TestClient) -> None:
    for _ in range(3):
        client.get("/api/v1/items")
    client.get("/api/v1/items/7")
    client.get("/api/v1/items/8")
    client.post("/api/v1/items", json={})
    client.get("/no/such/path/1")
    client.get("/no/such/path/2")
    client.request("BREW", "/api/v1/items")
    text = client.get("/metrics").text

    assert _count(text, "GET", "/api/v1/items", "200") == 3
    # The template, never the raw path: both ids land in one series.
    assert _count(text, "GET", "/api/v1/items/{item_id}", "404") == 2
    assert _count(text, "POST", "/api/v1/items", "401") == 1
    # Unmatched paths collapse into one value; unknown methods into _OTHER.
    assert _count(text, "GET", "unmatched", "404") == 2
    assert _count(text, "_OTHER", "/api/v1/items", "405") == 1
    assert not any("/no/such" in line for line in text.splitlines())


def test_histogram_buckets_and_active_requests(client: TestClient) -> None:
    client.get("/api/v1/items")
    text = client.get("/metrics").text
    buckets = [
        dict(labels)["le"]
        for labels in _samples(text, "http_server_request_duration_seconds_bucket")
        if dict(labels)["http_route"] == "/api/v1/items"
    ]
    assert [float(le) for le in buckets if le != "+Inf"] == DESIGN_BUCKETS
    assert "+Inf" in buckets
    active = _samples(text, "http_server_active_requests")
    # The scrape itself is the one request in flight while /metrics renders.
    assert active[(("http_request_method", "GET"),)] == 1.0


def test_openmetrics_carries_trace_id_exemplars(
    make_client: Callable[..., TestClient],
    tracer_provider: TracerProvider,
    span_exporter: InMemorySpanExporter,
) -> None:
    client = make_client(tracer_provider=tracer_provider)
    client.get("/api/v1/items")
    [server_span] = [s for s in span_exporter.get_finished_spans() if s.kind == SpanKind.SERVER]

    response = client.get("/metrics", headers={"Accept": OPENMETRICS})
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    exemplars = [
        sample.exemplar
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.exemplar is not None and sample.labels.get("http_route") == "/api/v1/items"
    ]
    assert [e.labels["trace_id"] for e in exemplars] == [
        format(server_span.context.trace_id, "032x")
    ]

    # The classic text format has no exemplars.
    plain = client.get("/metrics")
    assert plain.headers["content-type"].startswith("text/plain")
    assert "trace_id" not in plain.text


def test_metrics_can_be_switched_off_for_the_baseline(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(metrics_enabled=False)
    assert client.get("/metrics").status_code == 404


def test_background_work_is_not_counted_in_the_request_duration(
    client: TestClient, login: Callable[..., dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def slow_audit(action: str, actor_id: int, item_id: int) -> None:
        await asyncio.sleep(1.5)

    auth = login(client)
    monkeypatch.setattr(audit, "record_event", slow_audit)
    assert (
        client.post("/api/v1/items", json={"name": "x", "price": "1"}, headers=auth).status_code
        == 201
    )
    buckets = _samples(client.get("/metrics").text, "http_server_request_duration_seconds_bucket")
    under_one_second = (
        ("http_request_method", "POST"),
        ("http_response_status_code", "201"),
        ("http_route", "/api/v1/items"),
        ("le", "1.0"),
    )
    # The client had its answer long before the 1.5 s background task ended.
    assert buckets[under_one_second] == 1.0
