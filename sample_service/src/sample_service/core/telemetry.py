"""OpenTelemetry tracing: the tracer provider, OTLP/HTTP export, and the SQLAlchemy and
HTTPX instrumentations. The server span of each request is core/request_middleware.py's.

The exporter is configured by the standard OTEL_* variables. With no OTLP endpoint
in the environment, tracing stays off entirely: no provider, no instrumentation,
so nothing retries a missing collector and nothing spams the log.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

import httpx
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from sqlalchemy.ext.asyncio import AsyncEngine

from sample_service import __version__
from sample_service.core.settings import Settings

# Encoding a batch to protobuf is pure Python on the exporter thread, and it holds the GIL
# against the request thread for the whole batch: a batch of 512 spans (the SDK default)
# took 25-35 ms and every request running meanwhile waited ~11 ms (median) more; batches
# of 128 take ~5 ms and delay such a request ~7 ms. Same total work, much shorter stalls
# (bench/service_overhead, README.md). Against a keep-alive sink (3 runs each), batches of
# 32 cut the one-connection p99 added to +1.3-2.8 ms but kept 0.62-0.72 of bare throughput
# (median 0.64); 64 had 128's tail (+3.1-4.1 ms) at 0.55-0.75; 128 kept 0.71-0.74 at
# +3.4-4.0 ms. No size meets both targets reliably, so 128 stays, the one meeting the
# throughput target every run. OTEL_BSP_MAX_EXPORT_BATCH_SIZE still wins.
DEFAULT_EXPORT_BATCH_SIZE = 128


class HashOnceResource(Resource):
    """A Resource whose hash is computed once. The OTLP encoder groups the spans of each
    batch by resource, hashing the resource of every span, and Resource.__hash__ serialises
    all its attributes to JSON each time: ~7 us a span, a fifth of its encoding
    (bench/service_overhead/README.md). A resource never changes, so neither does its hash.
    """

    def __init__(self, resource: Resource) -> None:
        super().__init__(resource.attributes, resource.schema_url)
        self._hash = super().__hash__()

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return super().__eq__(other)


def otlp_endpoint_configured(env: Mapping[str, str] = os.environ) -> bool:
    """True when the standard variables ask for OTLP trace export."""
    if env.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    if env.get("OTEL_TRACES_EXPORTER", "otlp").lower() == "none":
        return False
    return bool(
        env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    )


def export_batch_size(env: Mapping[str, str] = os.environ) -> int | None:
    """Spans per export; None leaves it to the SDK, which reads OTEL_BSP_MAX_EXPORT_BATCH_SIZE."""
    return None if env.get("OTEL_BSP_MAX_EXPORT_BATCH_SIZE") else DEFAULT_EXPORT_BATCH_SIZE


def create_tracer_provider(
    settings: Settings, extra_processors: Iterable[SpanProcessor] = ()
) -> TracerProvider | None:
    """A provider exporting over OTLP/HTTP when configured; None means tracing is off."""
    processors = list(extra_processors)
    export = otlp_endpoint_configured()
    if not export and not processors:
        return None
    resource = HashOnceResource(
        Resource.create(
            {
                "service.name": settings.service_name,
                "service.version": __version__,
                "deployment.environment.name": settings.environment,
            }
        )
    )
    # The sampler comes from OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG.
    provider = TracerProvider(resource=resource)
    if export:
        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(), max_export_batch_size=export_batch_size())
        )
    for processor in processors:
        provider.add_span_processor(processor)
    return provider


def _stable_semantic_conventions() -> None:
    """Stable HTTP semantic conventions. The instrumentations read this once per process,
    at their first use, so it is set before any of them runs."""
    os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "http")


def instrument_engine(provider: TracerProvider, engine: AsyncEngine) -> None:
    """Trace the SQL statements of this app's engine only."""
    _stable_semantic_conventions()
    # EngineTracer instruments one engine without patching create_engine globally, so
    # each app (and each test) gets its own, unlike the singleton SQLAlchemyInstrumentor.
    connections_usage = (
        NoOpMeterProvider()
        .get_meter(__name__)
        .create_up_down_counter("db.client.connections.usage", unit="connections")
    )
    EngineTracer(
        provider.get_tracer("opentelemetry.instrumentation.sqlalchemy"),
        engine.sync_engine,
        connections_usage,
    )


def instrument_http_client(provider: TracerProvider, http_client: httpx.AsyncClient) -> None:
    """Trace the outgoing HTTP calls of this client (a client span each)."""
    _stable_semantic_conventions()
    HTTPXClientInstrumentor.instrument_client(http_client, tracer_provider=provider)
