"""A token-bucket rate limiter per client address, in process memory.

Under gunicorn each worker keeps its own buckets, so the effective limit is
RATE_LIMIT_PER_MINUTE times the worker count (see the README).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from cachetools import TTLCache


class RateLimiter:
    """`per_minute` requests a minute per key, with bursts up to the same number."""

    def __init__(
        self,
        per_minute: int,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self.capacity = float(per_minute)
        self.refill_per_second = per_minute / 60.0
        self._clock = clock
        # A bucket idle for a minute is full again, so forgetting it then loses nothing
        # and keeps memory bounded however many clients appear.
        self._buckets: TTLCache[str, tuple[float, float]] = TTLCache(
            maxsize=max_keys, ttl=60.0, timer=clock
        )

    def hit(self, key: str) -> float | None:
        """Take one token for `key`: None if allowed, else seconds until one is available."""
        now = self._clock()
        tokens, last = self._buckets.get(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.refill_per_second)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.refill_per_second
        self._buckets[key] = (tokens - 1.0, now)
        return None
