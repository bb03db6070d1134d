"""Builds the ASGI app from settings: state, middleware, routers, telemetry."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from opentelemetry.sdk.trace import TracerProvider

from sample_service import __version__
from sample_service.api import exception_handlers
from sample_service.api.router import root
from sample_service.api.state import AppState
from sample_service.core.cache import create_cache
from sample_service.core.faults import FaultInjector
from sample_service.core.gc_freeze import freeze_startup_heap
from sample_service.core.metrics import ServiceMetrics
from sample_service.core.rate_limit import RateLimiter
from sample_service.core.request_middleware import RequestMiddleware
from sample_service.core.sentry import init_sentry
from sample_service.core.settings import Settings, get_settings
from sample_service.core.telemetry import create_tracer_provider, instrument
from sample_service.db.engine import create_engine, create_session_factory

logger = logging.getLogger("sample_service")


def _jwt_secret(settings: Settings) -> str:
    if settings.jwt_secret is not None:
        return settings.jwt_secret.get_secret_value()
    logger.warning("JWT_SECRET is not set: tokens are signed with a per-process random key")
    return secrets.token_urlsafe(32)


def _fault_injector(settings: Settings) -> FaultInjector | None:
    if not settings.fault_injection_enabled:
        return None
    if settings.fault_admin_token is None:
        logger.warning("FAULT_INJECTION_ENABLED without FAULT_ADMIN_TOKEN: injection stays off")
        return None
    return FaultInjector(settings.fault_state_file)


def create_app(
    settings: Settings | None = None, tracer_provider: TracerProvider | None = None
) -> FastAPI:
    """The service. `tracer_provider` overrides the one built from the OTEL_* variables."""
    settings = settings or get_settings()
    provider = tracer_provider or create_tracer_provider(settings)
    owns_provider = tracer_provider is None  # a caller's provider is the caller's to shut down
    init_sentry(settings)
    engine = create_engine(settings.database_url)
    http_client = httpx.AsyncClient(timeout=settings.upstream_timeout_seconds)
    state = AppState(
        settings=settings,
        engine=engine,
        session_factory=create_session_factory(engine),
        cache=create_cache(settings.redis_url, settings.cache_ttl_seconds),
        http_client=http_client,
        rate_limiter=RateLimiter(settings.rate_limit_per_minute),
        metrics=ServiceMetrics() if settings.metrics_enabled else None,
        faults=_fault_injector(settings),
        jwt_secret=_jwt_secret(settings),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Last step of startup, in each worker, whether telemetry is on or not: the app
        # is built, so what is alive now lives as long as the process (see gc_freeze).
        frozen = freeze_startup_heap()
        logger.info(
            "serving",
            extra={
                "tracing": provider is not None,
                "cache": state.cache.backend,
                "gc_frozen_objects": frozen,
            },
        )
        yield
        await http_client.aclose()
        await state.cache.close()
        await engine.dispose()
        if provider is not None and owns_provider:
            provider.shutdown()  # flushes the spans still in the batch

    # Traces come from opentelemetry-instrumentation-fastapi (instrument() below); FastAPI's
    # own native telemetry stays off so no request is traced twice.
    app = FastAPI(
        title=settings.service_name,
        version=__version__,
        lifespan=lifespan,
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.service = state
    exception_handlers.register(app)
    app.include_router(root)
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
    )
    if provider is not None:
        instrument(app, provider, engine, http_client)
    return app
