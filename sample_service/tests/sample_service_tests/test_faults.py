"""Fault injection: off by default, behind an env flag and a token, per route or global,
shared between workers through FAULT_STATE_FILE."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sample_service.core.faults import FaultInjector, FaultState, InjectedFaultError

TOKEN = "fault-admin-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_off_by_default_even_with_the_token(make_client: Callable[..., TestClient]) -> None:
    client = make_client(fault_admin_token=TOKEN)
    response = client.put("/admin/faults", json={"error_rate": 1.0}, headers=AUTH)
    assert response.status_code == 404
    assert client.get("/api/v1/items").status_code == 200


def test_enabled_flag_without_token_stays_off(make_client: Callable[..., TestClient]) -> None:
    client = make_client(fault_injection_enabled=True)
    assert client.put("/admin/faults", json={"error_rate": 1.0}).status_code == 404


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
