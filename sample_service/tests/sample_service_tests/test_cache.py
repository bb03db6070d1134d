"""The cache backends: in-process TTL by default, Redis when REDIS_URL is set."""

from __future__ import annotations

import fakeredis
import pytest
from sample_service.core.cache import MemoryCache, RedisCache, create_cache


def test_backend_follows_redis_url() -> None:
    assert isinstance(create_cache(None, 30), MemoryCache)
    assert isinstance(create_cache("redis://127.0.0.1:6379/0", 30), RedisCache)


async def test_memory_cache_round_trip() -> None:
    cache = MemoryCache(ttl_seconds=30)
    assert await cache.get("k") is None
    await cache.set("k", b"v")
    assert await cache.get("k") == b"v"
    await cache.delete("k")
    assert await cache.get("k") is None


@pytest.mark.parametrize("ttl", [0.5, 30.0])
async def test_redis_cache_stores_with_ttl(ttl: float) -> None:
    """Against fakeredis, an in-process implementation of the Redis protocol's commands."""
    client = fakeredis.FakeAsyncRedis()
    cache = RedisCache(client, ttl_seconds=ttl)
    await cache.ping()
    await cache.set("item:1", b'{"id": 1}')
    assert await cache.get("item:1") == b'{"id": 1}'
    assert 0 < await client.pttl("item:1") <= ttl * 1000
    await cache.delete("item:1")
    assert await cache.get("item:1") is None
    await cache.close()
