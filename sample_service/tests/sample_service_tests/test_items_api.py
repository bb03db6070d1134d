"""Items: CRUD with pagination, ownership, the cached read and the background audit task."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sample_service.api.state import AppState
from sqlalchemy import text


def _state(client: TestClient) -> AppState:
    return client.app.state.service  # type: ignore[attr-defined]  # the test client's app is typed as any ASGI app


def test_create_read_update_delete(
    client: TestClient, login: Callable[..., dict[str, str]]
) -> None:
    auth = login(client)
    created = client.post(
        "/api/v1/items",
        json={"name": "  Lamp ", "description": "desk lamp", "price": "19.90", "quantity": 3},
        headers=auth,
    )
    assert created.status_code == 201
    item = created.json()
    assert item["name"] == "  Lamp "  # stored as sent
    assert item["price"] == "19.90"
    assert item["created_at"].endswith("Z") or item["created_at"].endswith("+00:00")

    fetched = client.get(f"/api/v1/items/{item['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == item

    updated = client.patch(f"/api/v1/items/{item['id']}", json={"quantity": 5}, headers=auth)
    assert updated.status_code == 200
    assert updated.json()["quantity"] == 5
    assert updated.json()["name"] == "  Lamp "  # partial update keeps the rest

    assert client.delete(f"/api/v1/items/{item['id']}", headers=auth).status_code == 204
    assert client.get(f"/api/v1/items/{item['id']}").status_code == 404
    assert client.delete(f"/api/v1/items/{item['id']}", headers=auth).status_code == 404


def test_list_is_public_and_paginated(
    client: TestClient, login: Callable[..., dict[str, str]]
) -> None:
    auth = login(client)
    for number in range(5):
        response = client.post(
            "/api/v1/items", json={"name": f"item {number}", "price": "1"}, headers=auth
        )
        assert response.status_code == 201
    page = client.get("/api/v1/items", params={"limit": 2, "offset": 1}).json()
    assert page["total"] == 5
    assert (page["limit"], page["offset"]) == (2, 1)
    assert [item["name"] for item in page["items"]] == ["item 1", "item 2"]
    default_page = client.get("/api/v1/items").json()
    assert len(default_page["items"]) == 5


def test_only_the_owner_changes_an_item(
    client: TestClient, login: Callable[..., dict[str, str]]
) -> None:
    owner = login(client, email="owner@example.com")
    other = login(client, email="other@example.com")
    item_id = client.post("/api/v1/items", json={"name": "x", "price": "1"}, headers=owner).json()[
        "id"
    ]
    assert (
        client.patch(f"/api/v1/items/{item_id}", json={"name": "y"}, headers=other).status_code
        == 403
    )
    assert client.delete(f"/api/v1/items/{item_id}", headers=other).status_code == 403
    assert client.get(f"/api/v1/items/{item_id}").json()["name"] == "x"


def test_read_is_served_from_cache_until_invalidated(
    client: TestClient, login: Callable[..., dict[str, str]]
) -> None:
    auth = login(client)
    item_id = client.post(
        "/api/v1/items", json={"name": "cached", "price": "1"}, headers=auth
    ).json()["id"]
    first = client.get(f"/api/v1/items/{item_id}")
    assert first.headers["X-Cache"] == "miss"

    async def rename_behind_the_cache() -> None:
        async with _state(client).engine.begin() as connection:
            await connection.execute(
                text("UPDATE items SET name = 'changed behind' WHERE id = :id"), {"id": item_id}
            )

    client.portal.call(rename_behind_the_cache)  # type: ignore[union-attr]  # portal is set inside `with client`
    second = client.get(f"/api/v1/items/{item_id}")
    assert second.headers["X-Cache"] == "hit"
    assert second.json()["name"] == "cached"  # the database changed, the cache answered

    client.patch(f"/api/v1/items/{item_id}", json={"quantity": 2}, headers=auth)
    third = client.get(f"/api/v1/items/{item_id}")
    assert third.headers["X-Cache"] == "miss"
    assert third.json()["name"] == "changed behind"


def test_create_writes_an_audit_record_in_the_background(
    client: TestClient, login: Callable[..., dict[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    auth = login(client)
    with caplog.at_level(logging.INFO, logger="sample_service.audit"):
        item_id = client.post(
            "/api/v1/items", json={"name": "a", "price": "1"}, headers=auth
        ).json()["id"]
    audits = [r for r in caplog.records if r.name == "sample_service.audit"]
    assert [(r.audit_action, r.item_id) for r in audits] == [("item.created", item_id)]  # type: ignore[attr-defined]  # the audit fields come as `extra=` attributes


def test_unknown_item_is_404_with_request_id(client: TestClient) -> None:
    response = client.get("/api/v1/items/4242")
    assert response.status_code == 404
    assert response.json()["request_id"] == response.headers["X-Request-ID"]
