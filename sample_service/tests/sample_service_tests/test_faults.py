"""Fault injection: off by default, behind an env flag and a token, per route or global,
shared between workers through FAULT_STATE_FILE."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sample_service.core.faults import FaultInjector, FaultState, InjectedFaultError
from sample_service.core.settings import Settings, describe_errors

TOKEN = "fault-admin-token-for-tests-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_off_by_default_even_with_the_token(make_client: Callable[..., TestClient]) -> None:
    client = make_client(fault_admin_token=TOKEN)
    response = client.put("/admin/faults", json={"error_rate": 1.0}, headers=AUTH)
    assert response.status_code == 404
    assert client.get("/api/v1/items").status_code == 200


@pytest.mark.parametrize("token", [None, "", "   ", "x" * 31, "\u00e9" * 15])
def test_enabled_flag_without_a_32_byte_token_refuses_to_start(
    make_settings: Callable[..., Settings], token: str | None
) -> None:
    """Compose passes ${FAULT_ADMIN_TOKEN:-}: an empty token must not build the endpoint."""
    with pytest.raises(ValidationError) as refused:
        make_settings(fault_injection_enabled=True, fault_admin_token=token)
    message = describe_errors(refused.value)
    assert "FAULT_ADMIN_TOKEN" in message
    assert "32 bytes" in message
    if token and token.strip():
        assert token not in message  # the rejected secret is not printed
    # 32 bytes are enough; a short token is fine while injection is off.
    make_settings(fault_injection_enabled=True, fault_admin_token="x" * 32)
    assert make_settings(fault_admin_token="short").fault_injection_enabled is False


def test_the_admin_endpoint_is_rate_limited_like_login(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(
        fault_injection_enabled=True, fault_admin_token=TOKEN, auth_rate_limit_per_minute=3
    )
    wrong = {"Authorization": "Bearer a-guess-at-the-token-0123456789abcdef"}
    statuses = [client.get("/admin/faults", headers=wrong).status_code for _ in range(3)]
    assert statuses == [401, 401, 401]
    limited = client.get("/admin/faults", headers=AUTH)  # even the right token, now
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1


def test_refused_without_the_right_token(make_client: Callable[..., TestClient]) -> None:
    client = make_client(fault_injection_enabled=True, fault_admin_token=TOKEN)
    assert client.put("/admin/faults", json={"error_rate": 1.0}).status_code == 401
    wrong = {"Authorization": "Bearer not-the-token"}
    assert client.put("/admin/faults", json={"error_rate": 1.0}, headers=wrong).status_code == 401
    assert client.delete("/admin/faults", headers=wrong).status_code == 401
    assert client.get("/api/v1/items").status_code == 200


def test_route_fault_fails_only_that_route(make_client: Callable[..., TestClient]) -> None:
    client = make_client(fault_injection_enabled=True, fault_admin_token=TOKEN)
    body = {"error_rate": 1.0, "latency_seconds": 0, "route": "/api/v1/items"}
    assert client.put("/admin/faults", json=body, headers=AUTH).json() == body
    assert client.get("/admin/faults", headers=AUTH).json() == body

    failed = client.get("/api/v1/items")
    assert failed.status_code == 500
    assert failed.json()["detail"] == "injected fault"
    assert failed.json()["request_id"] == failed.headers["X-Request-ID"]
    assert client.get("/api/v1/items/1").status_code == 404  # another route is untouched
    assert client.get("/health/live").status_code == 200

    text = client.get("/metrics").text
    assert (
        'http_server_request_duration_seconds_count{http_request_method="GET",'
        'http_response_status_code="500",http_route="/api/v1/items"} 1.0'
    ) in text

    assert client.delete("/admin/faults", headers=AUTH).status_code == 204
    assert client.get("/api/v1/items").status_code == 200


def test_global_latency_shows_in_the_duration_histogram(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client(fault_injection_enabled=True, fault_admin_token=TOKEN)
    client.put("/admin/faults", json={"latency_seconds": 0.3}, headers=AUTH)
    assert client.get("/api/v1/items/5").status_code == 404
    text = client.get("/metrics").text
    under_quarter = (
        'http_server_request_duration_seconds_bucket{http_request_method="GET",'
        'http_response_status_code="404",http_route="/api/v1/items/{item_id}",le="0.25"} 0.0'
    )
    assert under_quarter in text  # the request took at least the injected 0.3 s


@pytest.mark.parametrize(
    "body",
    [{"error_rate": 1.5}, {"error_rate": -0.1}, {"latency_seconds": -1}, {"route": "no-slash"}],
)
def test_bad_fault_config_is_a_422(
    make_client: Callable[..., TestClient], body: dict[str, object]
) -> None:
    client = make_client(fault_injection_enabled=True, fault_admin_token=TOKEN)
    response = client.put("/admin/faults", json=body, headers=AUTH)
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == next(iter(body))


async def test_state_file_reaches_another_worker(tmp_path: Path) -> None:
    state_file = str(tmp_path / "faults.json")
    now = [0.0]
    worker_a = FaultInjector(state_file)
    worker_b = FaultInjector(state_file, clock=lambda: now[0])
    await worker_a.set(FaultState(error_rate=1.0, route="/api/v1/items"))
    with pytest.raises(InjectedFaultError):
        await worker_b.apply("/api/v1/items")
    await worker_b.apply("/api/v1/users")  # other routes pass
    await worker_a.clear()
    with pytest.raises(InjectedFaultError):
        await worker_b.apply("/api/v1/items")  # re-read at most once a second
    now[0] += 1.0
    await worker_b.apply("/api/v1/items")
