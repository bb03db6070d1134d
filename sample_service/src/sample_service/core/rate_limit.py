"""Rate limits from the `limits` library: sliding-window counters, in process memory by
default, in Redis when REDIS_URL is set so that one limit holds across gunicorn workers
and replicas.

If Redis fails, this process falls back to its in-memory counters (the limit then holds
per process again) until Redis answers; the failure is counted and logged (core/fallback).
Keys are a scope and a client: an IPv6 client is keyed by its /64, which one host owns
whole, so rotating through its own addresses does not multiply its allowance.
"""

from __future__ import annotations

import ipaddress
import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, RateLimitItemPerMinute
from limits.aio.storage import RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter as AsyncSlidingWindow
from limits.storage import MemoryStorage
from limits.strategies import SlidingWindowCounterRateLimiter as SlidingWindow
from redis.asyncio import ConnectionPool

from sample_service.core.cache import REDIS_TIMEOUT_SECONDS
from sample_service.core.fallback import Fallback


@dataclass(frozen=True)
class Limits:
    api: RateLimitItem
    auth: RateLimitItem
    account: RateLimitItem

    @classmethod
    def per_minute(cls, api: int, auth: int, account: int) -> Limits:
        return cls(
            RateLimitItemPerMinute(api, namespace="api"),
            RateLimitItemPerMinute(auth, namespace="auth"),
            RateLimitItemPerMinute(account, namespace="account"),
        )


def client_key(host: str | None) -> str:
    """The rate-limit identity of a client address."""
    if host is None:
        return "unknown"
    if ":" in host:
        try:
            return str(ipaddress.IPv6Network(f"{host}/64", strict=False))
        except ValueError:
            return host
    return host


class RateLimiter:
    def __init__(self, redis_url: str | None, fallback: Fallback) -> None:
        # The synchronous memory storage: no I/O, so no await, and its expiry sweep runs on
        # a timer thread rather than as a task per hit like its asyncio twin.
        self._memory = SlidingWindow(MemoryStorage())
        self._redis: AsyncSlidingWindow | None = None
        self._pool: ConnectionPool | None = None
        if redis_url:
            # Our own pool, so that close() can release its connections.
            self._pool = ConnectionPool.from_url(
                redis_url,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            )
            storage = RedisStorage(
                f"async+{redis_url}",
                implementation="redispy",
                wrap_exceptions=True,
                connection_pool=self._pool,  # type: ignore[arg-type]  # **options are typed float | str | bool; redis-py takes a pool
            )
            self._redis = AsyncSlidingWindow(storage)
        self.fallback = fallback
        self.backend = "redis" if redis_url else "memory"

    async def hit(self, limit: RateLimitItem, *key: str) -> float | None:
        """Count one request against `limit` for `key`: None if allowed, else the seconds
        until the client may retry."""
        if self._redis is not None and self.fallback.available():
            try:
                if await self._redis.hit(limit, *key):
                    return None
                stats = await self._redis.get_window_stats(limit, *key)
                return _retry_after(stats.reset_time)
            except Exception as error:  # any storage failure: fall back, never fail the request
                self.fallback.failed("hit", error)
        if self._memory.hit(limit, *key):
            return None
        return _retry_after(self._memory.get_window_stats(limit, *key).reset_time)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()


def _retry_after(reset_time: float) -> int:
    return max(1, math.ceil(reset_time - time.time()))
