"""Registration, login, bearer tokens and the Argon2id password hashes (pwdlib)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import jwt
import pytest
from argon2 import PasswordHasher as Argon2
from argon2 import extract_parameters
from fastapi.testclient import TestClient
from sample_service.core.passwords import ARGON2ID_PARAMETERS, HashingBusyError, PasswordHasher
from sample_service.core.security import create_access_token, decode_access_token
from sqlalchemy import text

from tests.support.eventually import eventually

SECRET = "test-secret-of-sufficient-length-0123456789"


def _stored_hash(client: TestClient, email: str) -> str:
    async def query() -> str:
        async with client.app.state.service.engine.connect() as connection:  # type: ignore[attr-defined]  # the test client's app is typed as any ASGI app
            result = await connection.execute(
                text("SELECT password_hash FROM users WHERE email = :email"), {"email": email}
            )
            return str(result.scalar_one())

    return client.portal.call(query)  # type: ignore[union-attr]  # portal is set inside `with client`


def _set_stored_hash(client: TestClient, email: str, password_hash: str) -> None:
    async def update() -> None:
        async with client.app.state.service.engine.begin() as connection:  # type: ignore[attr-defined]  # the test client's app is typed as any ASGI app
            await connection.execute(
                text("UPDATE users SET password_hash = :hash WHERE email = :email"),
                {"hash": password_hash, "email": email},
            )

    client.portal.call(update)  # type: ignore[union-attr]  # portal is set inside `with client`


def test_me_requires_a_valid_token(
    client: TestClient, login: Callable[..., dict[str, str]]
) -> None:
    assert client.get("/api/v1/users/me").status_code == 401
    bad = client.get("/api/v1/users/me", headers={"Authorization": "Bearer not-a-jwt"})
    assert bad.status_code == 401
    assert bad.headers["WWW-Authenticate"] == "Bearer"
    assert bad.json()["request_id"] == bad.headers["X-Request-ID"]
    forged = create_access_token(1, "another-secret-of-sufficient-length-012345", 5)
    assert (
        client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {forged}"}).status_code
        == 401
    )

    auth = login(client, email="Ada@Example.com")
    me = client.get("/api/v1/users/me", headers=auth)
    assert me.status_code == 200
    assert me.json()["email"] == "ada@example.com"
    assert "password" not in me.text


@pytest.mark.parametrize(
    "subject",
    [
        "\u00b2",  # superscript two: str.isdigit() is true, int() raises (was a 500)
        "\u0661",  # Arabic-Indic one: int() reads 1 (was user 1)
        "\uff11",  # fullwidth one
        "01",
        "0",
        "-1",
        "1.0",
        " 1",
        "2147483648",  # past the INTEGER primary key (a database error on PostgreSQL)
        "9" * 5000,
    ],
)
def test_a_signed_token_whose_subject_is_not_an_ascii_user_id_is_a_401(
    client: TestClient, login: Callable[..., dict[str, str]], subject: str
) -> None:
    login(client)  # user 1 exists, so a subject read as 1 would be let in
    token = jwt.encode({"sub": subject, "exp": 4_102_444_800}, SECRET, algorithm="HS256")
    response = client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    one = jwt.encode({"sub": "1", "exp": 4_102_444_800}, SECRET, algorithm="HS256")
    assert (
        client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {one}"}).json()["id"] == 1
    )


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


def test_password_is_stored_as_an_owasp_argon2id_hash(
    client: TestClient, login: Callable[..., dict[str, str]]
) -> None:
    login(client, password="correct horse battery")
    stored = _stored_hash(client, "ada@example.com")
    assert stored.startswith("$argon2id$")
    assert "correct horse battery" not in stored
    parameters = extract_parameters(stored)
    # OWASP Password Storage Cheat Sheet: m=19 MiB, t=2, p=1.
    assert (parameters.memory_cost, parameters.time_cost, parameters.parallelism) == (
        19_456,
        2,
        1,
    )


def test_an_outdated_hash_is_replaced_at_login(
    client: TestClient, login: Callable[..., dict[str, str]]
) -> None:
    password = "correct horse battery"
    login(client, password=password)
    # argon2-cffi's defaults, which the service used before (64 MiB, t=3, p=4).
    legacy = Argon2(time_cost=3, memory_cost=65_536, parallelism=4).hash(password)
    _set_stored_hash(client, "ada@example.com", legacy)

    wrong = client.post(
        "/api/v1/auth/token", json={"email": "ada@example.com", "password": "not it at all"}
    )
    assert wrong.status_code == 401
    assert _stored_hash(client, "ada@example.com") == legacy  # no rehash without the password

    right = client.post(
        "/api/v1/auth/token", json={"email": "ada@example.com", "password": password}
    )
    assert right.status_code == 200
    rehashed = _stored_hash(client, "ada@example.com")
    assert rehashed != legacy
    assert extract_parameters(rehashed).memory_cost == ARGON2ID_PARAMETERS["memory_cost"]
    again = client.post(
        "/api/v1/auth/token", json={"email": "ada@example.com", "password": password}
    )
    assert again.status_code == 200
    assert _stored_hash(client, "ada@example.com") == rehashed  # current: left alone


async def test_hash_round_trip_and_expired_tokens() -> None:
    hasher = PasswordHasher(concurrency=2, wait_seconds=5)
    digest = await hasher.hash("s3cret-password")
    assert await hasher.verify_and_update("s3cret-password", digest) == (True, None)
    assert (await hasher.verify_and_update("other-password", digest))[0] is False
    hasher.close()
    assert decode_access_token(create_access_token(7, SECRET, 5), SECRET) == 7
    assert decode_access_token(create_access_token(7, SECRET, -1), SECRET) is None


async def test_hashing_does_not_block_the_event_loop() -> None:
    """Argon2 runs in the hasher's own threads, so other tasks keep running meanwhile."""
    hasher = PasswordHasher(concurrency=2, wait_seconds=5)
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
    await hasher.hash("x" * 64)
    done.set()
    await task
    hasher.close()
    assert ticks - before > 1


async def test_at_most_n_hashes_run_and_a_waiter_times_out_with_retry_after() -> None:
    hasher = PasswordHasher(concurrency=2, wait_seconds=0.2)
    release = threading.Event()
    started = 0

    def held(_: str) -> str:
        nonlocal started
        started += 1
        release.wait(10)
        return "done"

    hasher._hash.hash = held  # type: ignore[method-assign]  # a stand-in hash that holds its slot
    first = asyncio.create_task(hasher.hash("a"))
    second = asyncio.create_task(hasher.hash("b"))
    await eventually(lambda: started == 2)
    with pytest.raises(HashingBusyError) as busy:
        await hasher.hash("c")  # both slots are held past the 0.2 s wait
    assert busy.value.retry_after_seconds == 1
    assert started == 2  # the third never ran
    release.set()
    assert await asyncio.gather(first, second) == ["done", "done"]
    assert await hasher.hash("d") == "done"  # slots free again
    hasher.close()


async def test_a_cancelled_request_keeps_its_slot_until_its_hash_ends() -> None:
    hasher = PasswordHasher(concurrency=1, wait_seconds=0.2)
    release = threading.Event()
    started = threading.Event()

    def held(_: str) -> str:
        started.set()
        release.wait(10)
        return "done"

    hasher._hash.hash = held  # type: ignore[method-assign]  # a stand-in hash that holds its slot
    abandoned = asyncio.create_task(hasher.hash("a"))
    await eventually(started.is_set)
    abandoned.cancel()  # the client went away; its hash is still running
    with pytest.raises(HashingBusyError):
        await hasher.hash("b")
    release.set()
    await eventually(lambda: hasher._slots.locked() is False)
    assert await hasher.hash("c") == "done"
    hasher.close()


def test_a_password_with_surrounding_spaces_logs_in_as_typed(
    client: TestClient, login: Callable[..., dict[str, str]]
) -> None:
    """Registration stripped the password and login did not: such a user was locked out."""
    login(client, password="  spaced out password  ")
    stripped = client.post(
        "/api/v1/auth/token", json={"email": "ada@example.com", "password": "spaced out password"}
    )
    assert stripped.status_code == 401
