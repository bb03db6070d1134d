"""OTLP logs into the real Loki: what the Collector's logs pipeline delivers, seen from Loki.

otel-collector/config.yaml sends the logs a service exports over OTLP to Loki's native
endpoint, /otlp/v1/logs. The Collector cannot run here, so the test exports the same
OTLP/HTTP protobuf request straight to Loki and checks what comes out: the resource's
service.name as the service_name stream label (what every dashboard selects on), the
record's trace and span ids as trace_id / span_id structured metadata (what the Loki
datasource's derived field and the traces-to-logs query read), the severity and the
record's attributes as structured metadata too, never as labels.
"""

from __future__ import annotations

import pytest

from tests.support.loki import RunningLoki, now_ns
from tests.support.otlp import log_request, new_span_id, new_trace_id, post

pytestmark = pytest.mark.integration

SECOND = 1_000_000_000


def test_otlp_logs_get_service_name_label_and_trace_metadata(real_loki: RunningLoki) -> None:
    start = now_ns() - SECOND
    trace_id, span_id = new_trace_id(), new_span_id()
    request = log_request(
        "checkout",
        [("order 42 paid", {"order.id": 42, "http.route": "/pay"}), ("receipt sent", {})],
        trace_id=trace_id,
        span_id=span_id,
        severity="WARN",
        resource={"service.version": "1.2.3"},
    )

    response = post(real_loki.otlp_logs_url, request)

    assert response.status_code in (200, 204), response.text
    entries = real_loki.wait_for_entries('{service_name="checkout"}', 2, start)
    assert sorted(e.line for e in entries) == ["order 42 paid", "receipt sent"]
    for entry in entries:
        # Labels stay low-cardinality: the service, nothing per record.
        assert dict(entry.labels) == {"service_name": "checkout"}
        assert entry.metadata["trace_id"] == trace_id
        assert entry.metadata["span_id"] == span_id
        assert entry.metadata["severity_text"] == "WARN"
        assert entry.metadata["service_version"] == "1.2.3"
    (paid,) = [e for e in entries if e.line == "order 42 paid"]
    assert paid.metadata["order_id"] == "42"
    assert paid.metadata["http_route"] == "/pay"


def test_the_trace_to_logs_query_finds_otlp_lines(real_loki: RunningLoki) -> None:
    """The Tempo datasource's query shape ({service_name="..."} | trace_id = "...") reads
    OTLP-ingested lines as it reads the sidecar's."""
    start = now_ns() - SECOND
    trace_id = new_trace_id()
    for service, trace in (("billing", trace_id), ("billing", new_trace_id())):
        request = log_request(service, [(f"charge for {trace}", {})], trace_id=trace)
        assert post(real_loki.otlp_logs_url, request).status_code in (200, 204)

    query = f'{{service_name="billing"}} | trace_id = "{trace_id}"'
    real_loki.wait_for_entries('{service_name="billing"}', 2, start)
    entries = real_loki.query_range(query, start, now_ns())

    assert [e.line for e in entries] == [f"charge for {trace_id}"]
