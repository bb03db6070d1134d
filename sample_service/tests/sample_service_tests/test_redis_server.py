"""REDIS_URL switches the cached read to a real Redis server (Debian's redis-server,
started by the test on a free loopback port), and /health/ready follows that server."""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator

import pytest
import redis
from fastapi.testclient import TestClient

from tests.support import free_port, require_binary

pytestmark = pytest.mark.integration


@pytest.fixture
def redis_server() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    binary = require_binary("redis-server", how="apt-get install -y redis-server")
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="sample-service-redis-")
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", workdir],
        stdout=subprocess.DEVNULL,
    )
    client = redis.Redis(host="127.0.0.1", port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                server.kill()
                pytest.fail("redis-server did not answer within 10 s")
            time.sleep(0.05)
    try:
        yield f"redis://127.0.0.1:{port}/0", server
    finally:
        server.kill()
        server.wait()


def test_cached_read_goes_through_real_redis(
    redis_server: tuple[str, subprocess.Popen[bytes]],
    make_client: Callable[..., TestClient],
    login: Callable[..., dict[str, str]],
) -> None:
    url, _ = redis_server
    client = make_client(redis_url=url, cache_ttl_seconds=30)
    auth = login(client, email="redis@example.com")
    item = client.post("/api/v1/items", json={"name": "cached", "price": "1.00"}, headers=auth)
    item_id = item.json()["id"]

    first = client.get(f"/api/v1/items/{item_id}")
    second = client.get(f"/api/v1/items/{item_id}")
    assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("miss", "hit")
    assert second.json() == first.json()

    server = redis.Redis.from_url(url)
    assert server.exists(f"item:{item_id}") == 1
    assert 0 < server.pttl(f"item:{item_id}") <= 30_000

    # An update invalidates the entry in Redis, so the next read is fresh.
    client.patch(f"/api/v1/items/{item_id}", json={"name": "renamed"}, headers=auth)
    assert server.exists(f"item:{item_id}") == 0
    third = client.get(f"/api/v1/items/{item_id}")
    assert (third.headers["X-Cache"], third.json()["name"]) == ("miss", "renamed")


def test_ready_follows_the_redis_server(
    redis_server: tuple[str, subprocess.Popen[bytes]],
    make_client: Callable[..., TestClient],
) -> None:
    url, server = redis_server
    client = make_client(redis_url=url)
    assert client.get("/health/ready").status_code == 200
    server.kill()
    server.wait()
    ready = client.get("/health/ready")
    assert ready.status_code == 503
    assert ready.json()["status"] == "fail"
