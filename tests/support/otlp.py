"""OTLP/HTTP protobuf requests built by hand, for tests that export straight to Tempo or Loki.

What an SDK's exporter sends (ExportTraceServiceRequest / ExportLogsServiceRequest,
Content-Type application/x-protobuf), with ids and attributes the test chooses so
it can find them again on the other side.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping

import httpx
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

PROTOBUF = {"Content-Type": "application/x-protobuf"}


def new_trace_id() -> str:
    return secrets.token_hex(16)


def new_span_id() -> str:
    return secrets.token_hex(8)


def _attributes(values: Mapping[str, str | int]) -> list[common_pb2.KeyValue]:
    result = []
    for key, value in values.items():
        any_value = (
            common_pb2.AnyValue(int_value=value)
            if isinstance(value, int)
            else common_pb2.AnyValue(string_value=value)
        )
        result.append(common_pb2.KeyValue(key=key, value=any_value))
    return result


def _resource(service_name: str, extra: Mapping[str, str | int] | None) -> resource_pb2.Resource:
    return resource_pb2.Resource(
        attributes=_attributes({"service.name": service_name, **(extra or {})})
    )


def trace_request(
    service_name: str,
    trace_id: str,
    span_names: list[str],
    *,
    resource: Mapping[str, str | int] | None = None,
) -> trace_service_pb2.ExportTraceServiceRequest:
    """One trace: the first span is a SERVER root, each next one a child of the previous."""
    now = time.time_ns()
    spans = []
    parent = b""
    for number, name in enumerate(span_names):
        span_id = bytes.fromhex(new_span_id())
        spans.append(
            trace_pb2.Span(
                trace_id=bytes.fromhex(trace_id),
                span_id=span_id,
                parent_span_id=parent,
                name=name,
                kind=trace_pb2.Span.SPAN_KIND_SERVER
                if number == 0
                else trace_pb2.Span.SPAN_KIND_INTERNAL,
                start_time_unix_nano=now - 50_000_000 + number * 1_000_000,
                end_time_unix_nano=now - number * 1_000_000,
            )
        )
        parent = span_id
    return trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[
            trace_pb2.ResourceSpans(
                resource=_resource(service_name, resource),
                scope_spans=[trace_pb2.ScopeSpans(spans=spans)],
            )
        ]
    )


def log_request(
    service_name: str,
    records: list[tuple[str, Mapping[str, str | int]]],
    *,
    trace_id: str | None = None,
    span_id: str | None = None,
    severity: str = "INFO",
    resource: Mapping[str, str | int] | None = None,
) -> logs_service_pb2.ExportLogsServiceRequest:
    """Log records (body, attributes) of one service, optionally inside a span."""
    now = time.time_ns()
    log_records = [
        logs_pb2.LogRecord(
            time_unix_nano=now + number,
            observed_time_unix_nano=now + number,
            severity_text=severity,
            severity_number=logs_pb2.SEVERITY_NUMBER_INFO,
            body=common_pb2.AnyValue(string_value=body),
            attributes=_attributes(attributes),
            trace_id=bytes.fromhex(trace_id) if trace_id else b"",
            span_id=bytes.fromhex(span_id) if span_id else b"",
        )
        for number, (body, attributes) in enumerate(records)
    ]
    return logs_service_pb2.ExportLogsServiceRequest(
        resource_logs=[
            logs_pb2.ResourceLogs(
                resource=_resource(service_name, resource),
                scope_logs=[logs_pb2.ScopeLogs(log_records=log_records)],
            )
        ]
    )


def post(
    url: str,
    request: trace_service_pb2.ExportTraceServiceRequest
    | logs_service_pb2.ExportLogsServiceRequest,
) -> httpx.Response:
    """POST one OTLP/HTTP protobuf request to the full signal URL (…/v1/traces, …/otlp/v1/logs)."""
    return httpx.post(url, content=request.SerializeToString(), headers=PROTOBUF, timeout=30.0)
