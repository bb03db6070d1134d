"""Every input is validated and a 422 names the offending field, without echoing the value."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient


def _fields(response_json: dict[str, object]) -> set[str]:
    return {error["field"] for error in response_json["detail"]}  # type: ignore[index,union-attr]  # the 422 body is JSON of any shape


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email", "full_name": "A", "password": "long enough"}, "email"),
        ({"email": "a@example.com", "full_name": "", "password": "long enough"}, "full_name"),
        (
            {"email": "a@example.com", "full_name": "A" * 101, "password": "long enough"},
            "full_name",
        ),
        ({"email": "a@example.com", "full_name": "A", "password": "short"}, "password"),
        ({"email": "a@example.com", "full_name": "A", "password": "x" * 129}, "password"),
        ({"email": "a@example.com", "full_name": "A"}, "password"),
        (
            {"email": "a@example.com", "full_name": "A", "password": "long enough", "admin": True},
            "admin",
        ),
    ],
)
def test_registration_fields(client: TestClient, body: dict[str, object], field: str) -> None:
    response = client.post("/api/v1/users", json=body)
    assert response.status_code == 422
    assert field in _fields(response.json())


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "", "price": "1"}, "name"),
        ({"name": "n" * 101, "price": "1"}, "name"),
        ({"name": "n", "price": "-1"}, "price"),
        ({"name": "n", "price": "1.234"}, "price"),
        ({"name": "n", "price": "abc"}, "price"),
        ({"name": "n", "price": "1", "quantity": -1}, "quantity"),
        ({"name": "n", "price": "1", "quantity": 10**7}, "quantity"),
        ({"name": "n", "price": "1", "description": "d" * 2001}, "description"),
    ],
)
def test_item_fields(
    client: TestClient,
    login: Callable[..., dict[str, str]],
    body: dict[str, object],
    field: str,
) -> None:
    response = client.post("/api/v1/items", json=body, headers=login(client))
    assert response.status_code == 422
    assert _fields(response.json()) == {field}


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/v1/items?limit=0", "limit"),
        ("/api/v1/items?limit=101", "limit"),
        ("/api/v1/items?offset=-1", "offset"),
        ("/api/v1/items?limit=ten", "limit"),
        ("/api/v1/items/0", "item_id"),
        ("/api/v1/items/abc", "item_id"),
        ("/api/v1/items/99999999999", "item_id"),
    ],
)
def test_query_and_path_parameters(client: TestClient, url: str, field: str) -> None:
    response = client.get(url)
    assert response.status_code == 422
    assert _fields(response.json()) == {field}


def test_password_is_not_echoed_back(client: TestClient) -> None:
    secret = "x" * 200
    response = client.post(
        "/api/v1/users", json={"email": "a@example.com", "full_name": "A", "password": secret}
    )
    assert response.status_code == 422
    assert secret not in response.text


def test_malformed_json_is_a_422_not_a_500(client: TestClient) -> None:
    response = client.post(
        "/api/v1/users", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422


@pytest.mark.parametrize("field", ["name", "description", "price", "quantity"])
def test_an_explicit_null_in_an_update_is_a_422_naming_the_field(
    client: TestClient, login: Callable[..., dict[str, str]], field: str
) -> None:
    """Every column is NOT NULL: a null used to reach the database (a 500)."""
    auth = login(client)
    item = client.post("/api/v1/items", json={"name": "n", "price": "1"}, headers=auth).json()
    response = client.patch(f"/api/v1/items/{item['id']}", json={field: None}, headers=auth)
    assert response.status_code == 422
    assert _fields(response.json()) == {field}
    left_out = client.patch(f"/api/v1/items/{item['id']}", json={}, headers=auth)
    assert left_out.status_code == 200  # leaving a field out still means "unchanged"
    assert left_out.json()["name"] == "n"


def test_the_update_schema_allows_leaving_out_not_null(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()["components"]["schemas"]["ItemUpdate"]
    assert schema.get("required", []) == []
    for name, field in schema["properties"].items():
        assert "null" not in str(field), name
        assert "default" not in field, name


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/items", {"name": "a\ud800b", "price": "1"}, "name"),
        ("/api/v1/items", {"name": "a\x00b", "price": "1"}, "name"),
        ("/api/v1/items", {"name": "n", "price": "1", "description": "\x00"}, "description"),
        (
            "/api/v1/users",
            {"email": "s@example.com", "full_name": "A", "password": "pass\udfffword"},
            "password",
        ),
        (
            "/api/v1/users",
            {"email": "s@example.com", "full_name": "A\x00", "password": "password"},
            "full_name",
        ),
        ("/api/v1/auth/token", {"email": "s@example.com", "password": "\ud800"}, "password"),
    ],
)
def test_text_no_backend_can_store_or_hash_is_a_422(
    client: TestClient,
    login: Callable[..., dict[str, str]],
    path: str,
    body: dict[str, object],
    field: str,
) -> None:
    """A lone surrogate (JSON "\\ud800") cannot be encoded to UTF-8 for SQLite, asyncpg or
    Argon2, and PostgreSQL text cannot hold NUL: each was a 500 waiting to happen."""
    headers = {"Content-Type": "application/json", **login(client)}
    content = json.dumps(body)  # ensure_ascii: the surrogate travels as an escape
    response = client.post(path, content=content, headers=headers)
    assert response.status_code == 422, response.text
    assert _fields(response.json()) == {field}
