"""Rate limiting: 429 with Retry-After once a client has used its requests for the minute."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sample_service.core.rate_limit import RateLimiter


def test_api_answers_429_with_retry_after(make_client: Callable[..., TestClient]) -> None:
    client = make_client(rate_limit_per_minute=3)
    statuses = [client.get("/api/v1/items").status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    limited = client.get("/api/v1/items")
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.json()["detail"] == "rate limit exceeded"
    # Probes and scrapes are not rate limited: the limiter must never fail a health check.
    assert client.get("/health/live").status_code == 200
    assert client.get("/metrics").status_code == 200


def test_bucket_refills_with_time() -> None:
    now = [0.0]
    limiter = RateLimiter(per_minute=60, clock=lambda: now[0])
    assert all(limiter.hit("a") is None for _ in range(60))
    retry = limiter.hit("a")
    assert retry is not None
    assert 0 < retry <= 1.0
    assert limiter.hit("b") is None  # other clients have their own bucket
    now[0] += 1.0
    assert limiter.hit("a") is None
    assert limiter.hit("a") is not None
