"""Rate limiting (the `limits` library, in process memory here; across workers in Redis in
test_redis_server.py): 429 with Retry-After per client, the tighter limits of login and
registration per client and per account, probes and scrapes never limited."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sample_service.core.rate_limit import client_key


@pytest.fixture(autouse=True)
def _away_from_a_window_edge() -> None:
    """In-memory sliding windows are aligned to the minute; a test that crossed into the
    next minute would see part of its count forgiven."""
    while not 1 <= time.time() % 60 <= 50:
        time.sleep(0.5)


def test_api_answers_429_with_retry_after(make_client: Callable[..., TestClient]) -> None:
    client = make_client(rate_limit_per_minute=3)
    statuses = [client.get("/api/v1/items").status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    limited = client.get("/api/v1/items")
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert limited.json() == {
        "detail": "rate limit exceeded",
        "request_id": limited.headers["X-Request-ID"],
    }
    assert client.get("/api/v1/items/1").status_code == 429  # one limit over every route
    # Probes and scrapes are not rate limited: the limiter must never fail a health check.
    assert client.get("/health/live").status_code == 200
    assert client.get("/metrics").status_code == 200


def _register(client: TestClient, email: str) -> int:
    return client.post(
        "/api/v1/users", json={"email": email, "full_name": "A", "password": "password123"}
    ).status_code


def _login(client: TestClient, email: str, password: str = "password123") -> int:  # noqa: S107
    return client.post(
        "/api/v1/auth/token", json={"email": email, "password": password}
    ).status_code


def test_login_and_registration_have_a_tighter_per_client_limit(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(auth_rate_limit_per_minute=4)
    assert _register(client, "a@example.com") == 201
    assert [_login(client, f"{n}@example.com") for n in range(3)] == [401, 401, 401]
    assert _login(client, "a@example.com") == 429  # the right password, too late
    assert _register(client, "b@example.com") == 429
    assert client.get("/api/v1/items").status_code == 200  # the general limit is separate


def test_login_has_a_per_account_limit_whatever_the_client(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(account_rate_limit_per_minute=3)
    assert _register(client, "ada@example.com") == 201
    # Three tries at one account, from three addresses (X-Forwarded-For is not trusted,
    # so the address is set by the test client itself).
    for address in ("10.0.0.1", "10.0.0.2"):
        other = TestClient(client.app, client=(address, 1234))
        assert _login(other, "ada@example.com", "wrong-password") == 401
    assert _login(client, "ADA@example.com", "wrong-password") == 429  # case-insensitive
    assert _login(client, "bob@example.com", "wrong-password") == 401  # another account


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"),
        ("testclient", "testclient"),
        (None, "unknown"),
    ],
)
def test_clients_are_keyed_by_address_and_ipv6_by_its_64(address: str | None, key: str) -> None:
    assert client_key(address) == key
