"""The read cache: in-process TTL by default, Redis when REDIS_URL is set."""

from __future__ import annotations

from typing import Protocol

from cachetools import TTLCache
from redis.asyncio import Redis


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
        return bytes(value) if value is not None else None

    async def set(self, key: str, value: bytes) -> None:
        await self._client.set(key, value, px=self._ttl_ms)

    async def delete(self, key: str) -> None:
        await self._client.delete(key)

    async def ping(self) -> None:
        await self._client.ping()

    async def close(self) -> None:
        await self._client.aclose()


def create_cache(redis_url: str | None, ttl_seconds: float) -> Cache:
    if redis_url:
        client = Redis.from_url(redis_url, socket_timeout=2.0, socket_connect_timeout=2.0)
        return RedisCache(client, ttl_seconds)
    return MemoryCache(ttl_seconds)
