"""Tracing: the service's server span, SQLAlchemy and HTTPX spans, stable HTTP semantic
conventions, incoming trace context continued, probes and scrapes excluded, and tracing
off (quietly) without an OTLP endpoint."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import SpanKind, StatusCode
from sample_service.core.settings import Settings
from sample_service.core.telemetry import create_tracer_provider, otlp_endpoint_configured


class _Upstream(BaseHTTPRequestHandler):
    """Stands in for the other HTTP service the /api/v1/upstream endpoint calls."""

    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/ok" else 503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def upstream_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_request_db_and_client_spans_share_one_trace(
    make_client: Callable[..., TestClient],
    tracer_provider: TracerProvider,
    span_exporter: InMemorySpanExporter,
    upstream_url: str,
) -> None:
    client = make_client(tracer_provider=tracer_provider, upstream_url=f"{upstream_url}/ok")
    response = client.get("/api/v1/upstream")
    assert response.status_code == 200
    assert response.json()["status_code"] == 200
    client.get("/api/v1/items")

    spans = span_exporter.get_finished_spans()
    servers = {s.attributes["http.route"]: s for s in spans if s.kind == SpanKind.SERVER}
    assert set(servers) == {"/api/v1/upstream", "/api/v1/items"}
    upstream_server = servers["/api/v1/upstream"]
    # Stable HTTP conventions (OTEL_SEMCONV_STABILITY_OPT_IN=http), not the old http.method.
    assert upstream_server.attributes["http.request.method"] == "GET"
    assert upstream_server.attributes["http.response.status_code"] == 200
    assert "http.method" not in upstream_server.attributes

    [client_span] = [s for s in spans if s.kind == SpanKind.CLIENT and "url.full" in s.attributes]
    assert client_span.attributes["url.full"] == f"{upstream_url}/ok"
    assert client_span.context.trace_id == upstream_server.context.trace_id

    items_trace = servers["/api/v1/items"].context.trace_id
    db_spans = [
        s for s in spans if s.context.trace_id == items_trace and "db.system" in str(s.attributes)
    ]
    assert db_spans, "SQLAlchemy statements are traced inside the request"
    assert any("SELECT" in str(s.attributes.get("db.statement", s.name)) for s in db_spans)


def test_upstream_failure_is_a_502(
    make_client: Callable[..., TestClient], upstream_url: str
) -> None:
    client = make_client(upstream_url="http://127.0.0.1:9/unreachable")
    response = client.get("/api/v1/upstream")
    assert response.status_code == 502
    assert "upstream unreachable" in response.json()["detail"]
    other = make_client(upstream_url=f"{upstream_url}/down").get("/api/v1/upstream")
    assert (other.status_code, other.json()["status_code"]) == (200, 503)


def test_metrics_and_health_are_not_traced(
    make_client: Callable[..., TestClient],
    tracer_provider: TracerProvider,
    span_exporter: InMemorySpanExporter,
) -> None:
    client = make_client(tracer_provider=tracer_provider)
    for path in ("/metrics", "/health/live", "/health/ready"):
        assert client.get(path).status_code == 200
    assert span_exporter.get_finished_spans() == ()


def test_tracing_is_off_without_an_endpoint(
    monkeypatch: pytest.MonkeyPatch,
    make_client: Callable[..., TestClient],
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]  # pydantic-settings' _env_file is no model field
    assert create_tracer_provider(settings) is None
    with caplog.at_level(logging.DEBUG):
        client = make_client()
        assert client.get("/api/v1/items").status_code == 200
    noisy = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert noisy == [], "no error spam when no collector is configured"

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    assert otlp_endpoint_configured()
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert not otlp_endpoint_configured()
    monkeypatch.delenv("OTEL_SDK_DISABLED")
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    assert not otlp_endpoint_configured()


def test_the_server_span_follows_the_stable_http_conventions(
    make_client: Callable[..., TestClient],
    tracer_provider: TracerProvider,
    span_exporter: InMemorySpanExporter,
) -> None:
    client = make_client(tracer_provider=tracer_provider)
    assert client.get("/api/v1/items?limit=5").status_code == 200
    assert client.get("/no/such/path").status_code == 404
    listed, unmatched = [s for s in span_exporter.get_finished_spans() if s.kind == SpanKind.SERVER]
    assert listed.name == "GET /api/v1/items"
    assert dict(listed.attributes or {}) == {
        "http.request.method": "GET",
        "url.scheme": "http",
        "url.path": "/api/v1/items",
        "url.query": "limit=5",
        "http.route": "/api/v1/items",
        "http.response.status_code": 200,
    }
    assert listed.status.status_code == StatusCode.UNSET
    # No route matched: no route in the name or attributes (a raw path would be unbounded).
    assert unmatched.name == "GET"
    assert "http.route" not in (unmatched.attributes or {})
    assert unmatched.attributes["http.response.status_code"] == 404


def test_an_incoming_traceparent_is_continued(
    make_client: Callable[..., TestClient],
    tracer_provider: TracerProvider,
    span_exporter: InMemorySpanExporter,
) -> None:
    client = make_client(tracer_provider=tracer_provider)
    trace_id, parent_id = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
    client.get("/api/v1/items", headers={"traceparent": f"00-{trace_id}-{parent_id}-01"})
    [server] = [s for s in span_exporter.get_finished_spans() if s.kind == SpanKind.SERVER]
    assert format(server.context.trace_id, "032x") == trace_id
    assert server.parent is not None
    assert format(server.parent.span_id, "016x") == parent_id
    assert server.parent.is_remote


def test_a_server_error_marks_the_span(
    make_client: Callable[..., TestClient],
    tracer_provider: TracerProvider,
    span_exporter: InMemorySpanExporter,
) -> None:
    from sample_service_tests.test_errors import break_database

    client = make_client(tracer_provider=tracer_provider, customize=break_database)
    assert client.get("/api/v1/items").status_code == 500
    [server] = [s for s in span_exporter.get_finished_spans() if s.kind == SpanKind.SERVER]
    assert server.status.status_code == StatusCode.ERROR
    assert server.status.description == "DatabaseExploded"  # from the recorded exception
    assert server.attributes["error.type"] == "500"
    assert [e.name for e in server.events] == ["exception"]


def test_unsampled_requests_are_served_and_not_exported(
    make_client: Callable[..., TestClient], span_exporter: InMemorySpanExporter
) -> None:
    provider = TracerProvider(sampler=ALWAYS_OFF)
    provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    client = make_client(tracer_provider=provider)
    response = client.get("/api/v1/items")
    assert response.status_code == 200
    assert span_exporter.get_finished_spans() == ()
    provider.shutdown()
