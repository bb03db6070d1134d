"""The read cache: in-process TTL by default, Redis when REDIS_URL is set.

A cache is an optimisation, never a dependency requests fail on: with Redis down or
slow, FallbackCache turns a failed read into a miss (the caller reads the database) and
a failed write or invalidation into a counted, logged no-op (an entry an invalidation
missed lives until its TTL). Readiness still probes Redis itself and reports `warn`.
"""

from __future__ import annotations

from typing import Protocol

from cachetools import TTLCache
from redis.asyncio import Redis

from sample_service.core.fallback import Fallback

# A healthy Redis answers in well under a millisecond; past this it counts as failed.
REDIS_TIMEOUT_SECONDS = 0.5


class Cache(Protocol):
    backend: str

    async def get(self, key: str) -> bytes | None: ...
    async def set(self, key: str, value: bytes) -> None: ...
    async def delete(self, key: str) -> None: ...
    async def ping(self) -> None: ...
    async def close(self) -> None: ...


class MemoryCache:
    """Per-process; under several workers another worker may serve a stale entry until its TTL."""

    backend = "memory"

    def __init__(self, ttl_seconds: float, max_entries: int = 10_000) -> None:
        self._entries: TTLCache[str, bytes] = TTLCache(maxsize=max_entries, ttl=ttl_seconds)

    async def get(self, key: str) -> bytes | None:
        return self._entries.get(key)

    async def set(self, key: str, value: bytes) -> None:
        self._entries[key] = value

    async def delete(self, key: str) -> None:
        self._entries.pop(key, None)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._entries.clear()


class RedisCache:
    """Shared by every worker and replica, so an invalidation reaches all of them."""

    backend = "redis"

    def __init__(self, client: Redis, ttl_seconds: float) -> None:
        self._client = client
        self._ttl_ms = max(1, int(ttl_seconds * 1000))

    async def get(self, key: str) -> bytes | None:
        value = await self._client.get(key)
        return bytes(value) if value is not None else None  # type: ignore[arg-type]  # decode_responses is off: bytes, never str

    async def set(self, key: str, value: bytes) -> None:
        await self._client.set(key, value, px=self._ttl_ms)

    async def delete(self, key: str) -> None:
        await self._client.delete(key)

    async def ping(self) -> None:
        await self._client.ping()

    async def close(self) -> None:
        await self._client.aclose()


class FallbackCache:
    """A cache whose failures never reach the request (see the module docstring)."""

    def __init__(self, cache: Cache, fallback: Fallback) -> None:
        self._cache = cache
        self.fallback = fallback
        self.backend = cache.backend

    async def get(self, key: str) -> bytes | None:
        if self.fallback.available():
            try:
                return await self._cache.get(key)
            except Exception as error:  # any cache failure is a miss
                self.fallback.failed("get", error)
        return None

    async def set(self, key: str, value: bytes) -> None:
        if self.fallback.available():
            try:
                await self._cache.set(key, value)
            except Exception as error:
                self.fallback.failed("set", error)

    async def delete(self, key: str) -> None:
        # Tried even while the fallback is active: a missed invalidation serves stale data.
        try:
            await self._cache.delete(key)
        except Exception as error:
            self.fallback.failed("delete", error)

    async def ping(self) -> None:
        await self._cache.ping()

    async def close(self) -> None:
        await self._cache.close()


def create_cache(redis_url: str | None, ttl_seconds: float) -> Cache:
    if redis_url:
        client = Redis.from_url(
            redis_url,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        )
        return RedisCache(client, ttl_seconds)
    return MemoryCache(ttl_seconds)
