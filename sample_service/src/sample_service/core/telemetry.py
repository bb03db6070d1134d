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

# Encoding a batch to protobuf is pure Python on the exporter thread and holds the GIL:
# a request needing it meanwhile waits (up to the 5 ms switch interval). A batch smaller
# than the SDK's 512 shortens that hold at no CPU cost a request; the figures are in
# bench/service_overhead/README.md ("The tail at one connection, and the batch size").
# OTEL_BSP_MAX_EXPORT_BATCH_SIZE still wins.
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
    """Stable HTTP and database semantic conventions (db.system.name, db.namespace,
    db.query.text; Tempo's service graph and Grafana read these). The instrumentations read
    this once per process, at their first use, so it is set before any of them runs."""
    os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "http,database")


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
    _EngineTracer(  # type: ignore[no-untyped-call]  # EngineTracer.__init__ is unannotated
        provider.get_tracer("opentelemetry.instrumentation.sqlalchemy"),
        engine.sync_engine,
        connections_usage,
    )


def instrument_http_client(provider: TracerProvider, http_client: httpx.AsyncClient) -> None:
    """Trace the outgoing HTTP calls of this client (a client span each)."""
    _stable_semantic_conventions()
    HTTPXClientInstrumentor.instrument_client(http_client, tracer_provider=provider)


class _EngineTracer(EngineTracer):
    """Names SQLite statement spans "SELECT", not "SELECT /var/lib/.../sample.db".

    The instrumentation appends the database name, which for SQLite is the file path:
    it differs per deployment and says nothing a span name should. The path stays in
    the db.namespace attribute; other databases keep their (short) database name.
    """

    def _operation_name(self, db_name: str | None, statement: object) -> str:
        name = super()._operation_name(  # type: ignore[no-untyped-call]  # unannotated upstream
            None if self.vendor == "sqlite" else db_name, statement
        )
        return str(name)
