"""Builds the ASGI app from settings: state, middleware, routers, telemetry."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from opentelemetry.sdk.trace import TracerProvider

from sample_service import __version__
from sample_service.api import exception_handlers
from sample_service.api.router import ROUTERS
from sample_service.api.state import AppState
from sample_service.core import log_pipeline
from sample_service.core.cache import FallbackCache, create_cache
from sample_service.core.fallback import Fallback
from sample_service.core.faults import FaultInjector
from sample_service.core.gc_freeze import freeze_startup_heap
from sample_service.core.metrics import ServiceMetrics
from sample_service.core.passwords import PasswordHasher
from sample_service.core.rate_limit import Limits, RateLimiter
from sample_service.core.request_middleware import RequestMiddleware
from sample_service.core.sentry import init_sentry
from sample_service.core.settings import Settings, get_settings
from sample_service.core.telemetry import (
    create_tracer_provider,
    instrument_engine,
    instrument_http_client,
)
from sample_service.db.engine import create_engine, create_session_factory
from sample_service.schemas.errors import ValidationErrorResponse

logger = logging.getLogger("sample_service")


def _jwt_secret(settings: Settings) -> str:
    if settings.jwt_secret is not None:
        return settings.jwt_secret.get_secret_value()
    logger.warning("JWT_SECRET is not set: tokens are signed with a per-process random key")
    return secrets.token_urlsafe(32)


def _fault_injector(settings: Settings) -> FaultInjector | None:
    # Settings refuse FAULT_INJECTION_ENABLED without a token of at least 32 bytes.
    if not settings.fault_injection_enabled:
        return None
    return FaultInjector(settings.fault_state_file)


_FASTAPI_422 = "#/components/schemas/HTTPValidationError"
_OUR_422 = "#/components/schemas/ValidationErrorResponse"


def _replace_ref(node: Any) -> None:
    if isinstance(node, dict):
        if node.get("$ref") == _FASTAPI_422:
            node["$ref"] = _OUR_422
        for value in node.values():
            _replace_ref(value)
    elif isinstance(node, list):
        for value in node:
            _replace_ref(value)


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema, with the 422 body FastAPI documents by default (on routes that do
    not declare theirs) replaced by the one the service sends (api/exception_handlers.py)."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, routes=app.routes, description=app.description
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        components.setdefault(
            "ValidationErrorResponse",
            ValidationErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}"),
        )
        _replace_ref(schema)
        app.openapi_schema = schema
    return app.openapi_schema


def create_app(
    settings: Settings | None = None, tracer_provider: TracerProvider | None = None
) -> FastAPI:
    """The service. `tracer_provider` overrides the one built from the OTEL_* variables."""
    settings = settings or get_settings()
    provider = tracer_provider or create_tracer_provider(settings)
    owns_provider = tracer_provider is None  # a caller's provider is the caller's to shut down
    init_sentry(settings)
    metrics = ServiceMetrics() if settings.metrics_enabled else None
    pipeline = log_pipeline.current()
    if metrics is not None and pipeline is not None:
        pipeline.drop_counter = metrics.log_records_dropped
    engine = create_engine(settings.database_url)
    cache = create_cache(settings.redis_url, settings.cache_ttl_seconds)
    if settings.redis_url:
        cache = FallbackCache(
            cache,
            Fallback(
                "cache (Redis)",
                "item reads go to the database",
                metrics.cache_errors if metrics else None,
            ),
        )
    rate_limiter = RateLimiter(
        settings.redis_url,
        Fallback(
            "rate-limit storage (Redis)",
            "rate limits are counted per process",
            metrics.rate_limit_storage_errors if metrics else None,
        ),
    )
    passwords = PasswordHasher(
        settings.password_hash_concurrency, settings.password_hash_wait_seconds
    )
    state = AppState(
        settings=settings,
        engine=engine,
        session_factory=create_session_factory(engine),
        cache=cache,
        http_client=None,
        rate_limiter=rate_limiter,
        limits=Limits.per_minute(
            settings.rate_limit_per_minute,
            settings.auth_rate_limit_per_minute,
            settings.account_rate_limit_per_minute,
        ),
        passwords=passwords,
        metrics=metrics,
        faults=_fault_injector(settings),
        jwt_secret=_jwt_secret(settings),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Made here and closed at shutdown, so that a lifespan run again (a test client
        # entered twice) starts with a usable client.
        http_client = httpx.AsyncClient(timeout=settings.upstream_timeout_seconds)
        if provider is not None:
            instrument_http_client(provider, http_client)
        state.http_client = http_client
        # Last step of startup, in each worker, whether telemetry is on or not: the app
        # is built, so what is alive now lives as long as the process (see gc_freeze).
        frozen = freeze_startup_heap()
        logger.info(
            "serving",
            extra={
                "tracing": provider is not None,
                "cache": state.cache.backend,
                "rate_limits": rate_limiter.backend,
                "gc_frozen_objects": frozen,
            },
        )
        yield
        await http_client.aclose()
        await state.cache.close()
        await rate_limiter.close()
        passwords.close()
        await engine.dispose()
        if provider is not None and owns_provider:
            provider.shutdown()  # flushes the spans still in the batch

    app = FastAPI(
        title=settings.service_name,
        version=__version__,
        lifespan=lifespan,
        # The server span comes from RequestMiddleware; FastAPI's own native telemetry
        # stays off so no request is traced twice.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.service = state
    exception_handlers.register(app)
    for router in ROUTERS:
        # Starlette's body limit, per route so that it answers inside RequestMiddleware:
        # 413 as soon as Content-Length or the bytes received pass it, before parsing.
        app.include_router(router, max_body_size=settings.max_body_bytes)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]  # FastAPI's documented override
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PATCH", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After"],
        )
    # Added last, so outermost of the user middlewares: it sees CORS answers and every error.
    app.add_middleware(
        RequestMiddleware,
        metrics=state.metrics,
        access_log_enabled=settings.access_log_enabled,
        tracer=provider.get_tracer("sample_service") if provider is not None else None,
    )
    if provider is not None:
        instrument_engine(provider, engine)
    return app
