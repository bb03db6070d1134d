"""What one app instance holds for its requests (kept on app.state)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from sample_service.core.cache import Cache
from sample_service.core.faults import FaultInjector
from sample_service.core.metrics import ServiceMetrics
from sample_service.core.passwords import PasswordHasher
from sample_service.core.rate_limit import Limits, RateLimiter
from sample_service.core.settings import Settings


@dataclass
class AppState:
    settings: Settings
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    cache: Cache
    http_client: httpx.AsyncClient | None  # made by the lifespan startup
    rate_limiter: RateLimiter
    limits: Limits
    passwords: PasswordHasher
    metrics: ServiceMetrics | None
    faults: FaultInjector | None
    jwt_secret: str
