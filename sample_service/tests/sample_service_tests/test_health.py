"""Health endpoints in application/health+json: pass, and fail with 503."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

HEALTH_JSON = "application/health+json"


def test_live_passes_without_touching_dependencies(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    # A database that cannot be opened does not make the process "dead".
    client = make_client(database_url=f"sqlite+aiosqlite:///{tmp_path}/missing/dir/db.sqlite")
    response = client.get("/health/live")
    assert response.status_code == 200
    assert response.headers["content-type"] == HEALTH_JSON
    body = response.json()
    assert body["status"] == "pass"
    assert body["serviceId"] == "sample-service"
    assert body["checks"]["uptime"][0]["observedUnit"] == "s"


def test_ready_reports_each_dependency_with_its_time(client: TestClient) -> None:
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.headers["content-type"] == HEALTH_JSON
    body = response.json()
    assert body["status"] == "pass"
    assert set(body["checks"]) == {"database:responseTime", "cache:responseTime"}
    for [check] in body["checks"].values():
        assert check["status"] == "pass"
        assert check["observedUnit"] == "ms"
        assert check["observedValue"] >= 0
        assert check["componentType"] == "datastore"
        assert check["time"].endswith("Z")


def test_ready_fails_with_503_when_the_database_is_unreachable(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    client = make_client(database_url=f"sqlite+aiosqlite:///{tmp_path}/missing/dir/db.sqlite")
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.headers["content-type"] == HEALTH_JSON
    body = response.json()
    assert body["status"] == "fail"
    [database] = body["checks"]["database:responseTime"]
    assert database["status"] == "fail"
    assert database["output"] == "OperationalError"  # the type only, no path or address
    assert str(tmp_path) not in response.text
    assert body["checks"]["cache:responseTime"][0]["status"] == "pass"


def test_an_unreachable_cache_is_a_warning_not_a_failure(
    make_client: Callable[..., TestClient],
) -> None:
    """The service serves without its cache (reads go to the database): ready, with warn."""
    client = make_client(redis_url="redis://127.0.0.1:9/0")
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.headers["content-type"] == HEALTH_JSON
    assert response.json()["status"] == "warn"
    [cache] = response.json()["checks"]["cache:responseTime"]
    assert cache["status"] == "warn"
    assert cache["output"] == "ConnectionError"  # the type only: no internal address
    assert "127.0.0.1" not in response.text
    assert response.json()["checks"]["database:responseTime"][0]["status"] == "pass"
