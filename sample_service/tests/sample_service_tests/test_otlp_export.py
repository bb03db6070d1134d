"""Spans really leave the process over OTLP/HTTP, configured by the standard OTEL_* variables."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from sample_service.app_factory import create_app
from sample_service.core.settings import Settings
from sample_service.core.telemetry import DEFAULT_EXPORT_BATCH_SIZE, create_tracer_provider

from sample_service_tests.receivers import OtlpHttpReceiver


def test_spans_arrive_at_a_local_otlp_http_receiver(
    monkeypatch: pytest.MonkeyPatch, make_settings: Callable[..., Settings]
) -> None:
    with OtlpHttpReceiver() as receiver:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
        app = create_app(make_settings(service_name="otlp-probe"))
        with TestClient(app) as client:
            assert client.get("/api/v1/items").status_code == 200
            assert client.get("/health/live").status_code == 200
        # Leaving the client runs the lifespan shutdown, which flushes the batch.
        requests = receiver.requests

    assert requests, "the exporter sent nothing"
    assert {path for path, _, _ in requests} == {"/v1/traces"}
    assert all(h["content-type"] == "application/x-protobuf" for _, h, _ in requests)
    spans: list[tuple[dict[str, str], Span]] = []
    for _, _, body in requests:
        export = ExportTraceServiceRequest()
        export.ParseFromString(body)
        for resource_spans in export.resource_spans:
            resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                spans.extend((resource, span) for span in scope_spans.spans)

    servers = [(r, s) for r, s in spans if s.kind == Span.SPAN_KIND_SERVER]
    assert len(servers) == 1, "one server span: /health/live is excluded"
    resource, server = servers[0]
    assert resource["service.name"] == "otlp-probe"
    attributes = {a.key: a.value for a in server.attributes}
    assert attributes["http.route"].string_value == "/api/v1/items"
    assert attributes["http.response.status_code"].int_value == 200
    assert any(s.kind == Span.SPAN_KIND_CLIENT and s.trace_id == server.trace_id for _, s in spans)


def _exported_batch_sizes(receiver: OtlpHttpReceiver, settings: Settings, spans: int) -> list[int]:
    provider = create_tracer_provider(settings)
    assert provider is not None
    tracer = provider.get_tracer("batch-probe")
    for number in range(spans):
        tracer.start_span(f"span {number}").end()
    provider.shutdown()  # exports what is queued, in batches of the configured size
    sizes = []
    for _, _, body in receiver.requests:
        export = ExportTraceServiceRequest()
        export.ParseFromString(body)
        sizes.append(
            sum(len(scope.spans) for rs in export.resource_spans for scope in rs.scope_spans)
        )
    return sizes


def test_spans_are_exported_in_batches_of_at_most_128(
    monkeypatch: pytest.MonkeyPatch, make_settings: Callable[..., Settings]
) -> None:
    # The SDK's 512 would send these 300 in one batch, encoded in one long GIL-holding stall.
    with OtlpHttpReceiver() as receiver:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
        sizes = _exported_batch_sizes(receiver, make_settings(), spans=300)
    assert sum(sizes) == 300
    assert max(sizes) == DEFAULT_EXPORT_BATCH_SIZE == 128


def test_otel_bsp_max_export_batch_size_still_wins(
    monkeypatch: pytest.MonkeyPatch, make_settings: Callable[..., Settings]
) -> None:
    with OtlpHttpReceiver() as receiver:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
        monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "50")
        sizes = _exported_batch_sizes(receiver, make_settings(), spans=120)
    assert sum(sizes) == 120
    assert max(sizes) == 50
