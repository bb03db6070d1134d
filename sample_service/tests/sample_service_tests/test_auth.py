"""Registration, login, bearer tokens and the Argon2 password hashes (pwdlib)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from fastapi.testclient import TestClient
from sample_service.core.security import (
    create_access_token,
    decode_access_token,
    hash_password,
    verify_password,
)
from sqlalchemy import text

SECRET = "test-secret-of-sufficient-length-0123456789"


def test_me_requires_a_valid_token(
    client: TestClient, login: Callable[..., dict[str, str]]
) -> None:
    assert client.get("/api/v1/users/me").status_code == 401
    bad = client.get("/api/v1/users/me", headers={"Authorization": "Bearer not-a-jwt"})
    assert bad.status_code == 401
    assert bad.headers["WWW-Authenticate"] == "Bearer"
    forged = create_access_token("1", "another-secret-of-sufficient-length-012345", 5)
    assert (
        client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {forged}"}).status_code
        == 401
    )

    auth = login(client, email="Ada@Example.com")
    me = client.get("/api/v1/users/me", headers=auth)
    assert me.status_code == 200
    assert me.json()["email"] == "ada@example.com"
    assert "password" not in me.text


def test_creating_an_item_is_an_authenticated_action(client: TestClient) -> None:
    response = client.post("/api/v1/items", json={"name": "x", "price": "1"})
    assert response.status_code == 401


def test_wrong_password_and_unknown_user_are_rejected_alike(
    client: TestClient, login: Callable[..., dict[str, str]]
) -> None:
    login(client, email="ada@example.com", password="correct horse battery")
    wrong = client.post(
        "/api/v1/auth/token", json={"email": "ada@example.com", "password": "wrong password"}
    )
    unknown = client.post(
        "/api/v1/auth/token", json={"email": "nobody@example.com", "password": "whatever1"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]


def test_duplicate_email_is_a_conflict(
    client: TestClient, login: Callable[..., dict[str, str]]
) -> None:
    login(client, email="ada@example.com")
    again = client.post(
        "/api/v1/users",
        json={"email": "ADA@example.com", "full_name": "Ada", "password": "another password"},
    )
    assert again.status_code == 409


def test_password_is_stored_as_an_argon2_hash(
    client: TestClient, login: Callable[..., dict[str, str]]
) -> None:
    login(client, password="correct horse battery")

    async def stored_hash() -> str:
        async with client.app.state.service.engine.connect() as connection:  # type: ignore[attr-defined]
            return (await connection.execute(text("SELECT password_hash FROM users"))).scalar_one()

    stored = client.portal.call(stored_hash)  # type: ignore[union-attr]
    assert stored.startswith("$argon2id$")
    assert "correct horse battery" not in stored


async def test_hash_round_trip_and_expired_tokens() -> None:
    digest = await hash_password("s3cret-password")
    assert await verify_password("s3cret-password", digest)
    assert not await verify_password("other-password", digest)
    assert decode_access_token(create_access_token("7", SECRET, 5), SECRET) == "7"
    assert decode_access_token(create_access_token("7", SECRET, -1), SECRET) is None


async def test_hashing_does_not_block_the_event_loop() -> None:
    """Argon2 runs in a worker thread, so other tasks keep running meanwhile."""
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    before = ticks
    await hash_password("x" * 64)
    done.set()
    await task
    assert ticks - before > 1
