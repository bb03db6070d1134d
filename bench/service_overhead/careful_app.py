"""The careful hand-rolled baseline the service's telemetry is measured against.

The service's own app with its telemetry off (the `bare` mode), wrapped in what a careful
engineer writes by hand with the same libraries: one pure-ASGI middleware that opens one
server span per request (no per-message send/receive spans), observes one prometheus-client
histogram, and writes one JSON line (orjson) through stdlib logging to stdout and a file.
Spans go to CAREFUL_OTLP_ENDPOINT through the SDK's BatchSpanProcessor and OTLP/HTTP
exporter with their default settings; OTEL_TRACES_SAMPLER* apply as to the service.

    CAREFUL_OTLP_ENDPOINT=http://127.0.0.1:4318 CAREFUL_LOG_FILE=/tmp/careful.log \
        METRICS_ENABLED=false ACCESS_LOG_ENABLED=false python bench/service_overhead/careful_app.py
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any

import orjson
import uvicorn
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from prometheus_client import CollectorRegistry, Histogram
from sample_service.app_factory import create_app
from sample_service.core.log_config import configure_logging
from sample_service.core.settings import get_settings
from sample_service.db.migrate import upgrade_to_head
from sample_service.telemetry_contract import HTTP_DURATION
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class CarefulTelemetry:
    """One span, one histogram observation and one JSON line per HTTP request."""

    def __init__(self, app: ASGIApp, tracer: trace.Tracer, log: logging.Logger) -> None:
        self.app = app
        self.tracer = tracer
        self.log = log
        self.duration = Histogram(
            HTTP_DURATION.name,
            "Duration of HTTP server requests.",
            HTTP_DURATION.labels,
            buckets=HTTP_DURATION.buckets,
            registry=CollectorRegistry(),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        method = scope["method"]
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        with self.tracer.start_as_current_span(
            method,
            kind=trace.SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": scope["path"]},
        ) as span:
            try:
                await self.app(scope, receive, send_status)
            finally:
                route = getattr(scope.get("route"), "path", "unmatched")
                span.update_name(f"{method} {route}")
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
                duration = time.perf_counter() - start
                self.duration.labels(method, route, str(status)).observe(duration)
                context = span.get_span_context()
                line: dict[str, Any] = {
                    "timestamp": time.time(),
                    "level": "info",
                    "message": f"{method} {scope['path']} {status}",
                    "trace_id": format(context.trace_id, "032x"),
                    "span_id": format(context.span_id, "016x"),
                    "http_request_method": method,
                    "http_route": route,
                    "http_response_status_code": status,
                    "duration_seconds": duration,
                }
                self.log.info(orjson.dumps(line).decode())


def build() -> ASGIApp:
    provider = TracerProvider(resource=Resource.create({"service.name": "careful-baseline"}))
    endpoint = os.environ["CAREFUL_OTLP_ENDPOINT"]
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(f"{endpoint}/v1/traces")))
    log = logging.getLogger("careful.access")
    log.propagate = False
    log.setLevel(logging.INFO)
    for handler in (
        logging.StreamHandler(sys.stdout),
        logging.FileHandler(os.environ["CAREFUL_LOG_FILE"]),
    ):
        log.addHandler(handler)
    return CarefulTelemetry(create_app(get_settings()), provider.get_tracer("careful"), log)


if __name__ == "__main__":
    settings = get_settings()
    configure_logging(settings)
    upgrade_to_head(settings.database_url)
    uvicorn.run(
        build(),
        host=settings.host,
        port=settings.port,
        access_log=False,
        log_config=None,
        proxy_headers=False,
    )
