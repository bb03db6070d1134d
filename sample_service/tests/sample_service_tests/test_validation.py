"""Every input is validated and a 422 names the offending field, without echoing the value."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient


def _fields(response_json: dict[str, object]) -> set[str]:
    return {error["field"] for error in response_json["detail"]}  # type: ignore[index,union-attr]


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
