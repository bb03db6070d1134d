"""CORS: only the origins listed in CORS_ORIGINS are allowed; none by default."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "content-type",
}


def test_listed_origin_is_allowed_others_are_not(make_client: Callable[..., TestClient]) -> None:
    client = make_client(cors_origins=["https://app.example.com"])
    allowed = client.options(
        "/api/v1/items", headers={"Origin": "https://app.example.com", **PREFLIGHT}
    )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"

    denied = client.options(
        "/api/v1/items", headers={"Origin": "https://evil.example", **PREFLIGHT}
    )
    assert denied.status_code == 400
    assert "access-control-allow-origin" not in denied.headers

    simple = client.get("/api/v1/items", headers={"Origin": "https://app.example.com"})
    assert simple.headers["access-control-allow-origin"] == "https://app.example.com"
    other = client.get("/api/v1/items", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def test_no_origin_is_allowed_by_default(client: TestClient) -> None:
    response = client.get("/api/v1/items", headers={"Origin": "https://app.example.com"})
    assert "access-control-allow-origin" not in response.headers
