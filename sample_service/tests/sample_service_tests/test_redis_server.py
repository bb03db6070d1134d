"""REDIS_URL against a real Redis server (Debian's redis-server, started by the test on a
free loopback port): the cached read, the rate limits shared by gunicorn workers, and what
happens when that server dies (reads from the database, limits per process, readiness
`warn`, failures counted and logged once)."""

from __future__ import annotations

import logging
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import redis
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from sample_service_tests.test_processes import GUNICORN, _running, _service_env
from tests.support import free_port, require_binary, wait_http

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


def test_ready_warns_when_the_redis_server_dies(
    redis_server: tuple[str, subprocess.Popen[bytes]],
    make_client: Callable[..., TestClient],
) -> None:
    url, server = redis_server
    client = make_client(redis_url=url)
    assert client.get("/health/ready").json()["status"] == "pass"
    server.kill()
    server.wait()
    ready = client.get("/health/ready")
    assert ready.status_code == 200  # the service still serves: reads go to the database
    assert ready.json()["status"] == "warn"
    assert ready.json()["checks"]["cache:responseTime"][0]["status"] == "warn"
    assert ready.json()["checks"]["database:responseTime"][0]["status"] == "pass"


def _counter(client: TestClient, name: str) -> dict[str, float]:
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if sample.name == name:
                values[sample.labels.get("operation", "")] = sample.value
    return values


def test_with_redis_dead_reads_go_to_the_database_counted_and_logged_once(
    redis_server: tuple[str, subprocess.Popen[bytes]],
    make_client: Callable[..., TestClient],
    login: Callable[..., dict[str, str]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    url, server = redis_server
    client = make_client(redis_url=url)
    auth = login(client, email="fallback@example.com")
    item = client.post("/api/v1/items", json={"name": "kept", "price": "1.00"}, headers=auth)
    item_id = item.json()["id"]
    assert client.get(f"/api/v1/items/{item_id}").headers["X-Cache"] == "miss"
    assert client.get(f"/api/v1/items/{item_id}").headers["X-Cache"] == "hit"
    assert _counter(client, "cache_errors_total") == {}

    server.kill()
    server.wait()
    with caplog.at_level(logging.WARNING, logger="sample_service.fallback"):
        reads = [client.get(f"/api/v1/items/{item_id}") for _ in range(5)]
        update = client.patch(f"/api/v1/items/{item_id}", json={"name": "renamed"}, headers=auth)
    assert [r.status_code for r in reads] == [200] * 5
    assert {r.headers["X-Cache"] for r in reads} == {"miss"}
    assert reads[0].json()["name"] == "kept"
    assert update.status_code == 200  # the write succeeded; the invalidation failed, counted
    assert client.get(f"/api/v1/items/{item_id}").json()["name"] == "renamed"

    errors = _counter(client, "cache_errors_total")
    # The first read failed and opened the breaker: the other reads skipped Redis for the
    # cooldown; the invalidation is always tried.
    assert errors == {"get": 1.0, "delete": 1.0}
    cache_lines = [r for r in caplog.records if "cache (Redis)" in r.getMessage()]
    assert len(cache_lines) == 1, "logged once per interval, not once per failure"
    assert "ConnectionError" in cache_lines[0].getMessage()
    assert url.split("//")[1] not in cache_lines[0].getMessage()  # no address in the log


def test_rate_limits_fall_back_to_process_memory_when_redis_dies(
    redis_server: tuple[str, subprocess.Popen[bytes]],
    make_client: Callable[..., TestClient],
) -> None:
    url, server = redis_server
    client = make_client(redis_url=url, rate_limit_per_minute=3)
    assert [client.get("/api/v1/items").status_code for _ in range(3)] == [200] * 3
    assert client.get("/api/v1/items").status_code == 429  # counted in Redis
    keys = redis.Redis.from_url(url).keys("LIMITS*")
    assert keys, "the limiter's counters live in Redis"
    server.kill()
    server.wait()
    # Redis gone: the in-process limiter takes over (a fresh window), never a 500.
    assert [client.get("/api/v1/items").status_code for _ in range(3)] == [200] * 3
    assert client.get("/api/v1/items").status_code == 429
    assert _counter(client, "rate_limit_storage_errors_total") == {"hit": 1.0}


def _worker_pids(multiproc: Path) -> set[str]:
    return {p.stem.rsplit("_", 1)[-1] for p in multiproc.glob("histogram_*.db")}


def test_one_limit_holds_across_two_gunicorn_workers(
    redis_server: tuple[str, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    """Per-process limits let each of N workers allow the limit (N times the limit in all);
    with the counters in Redis, 2 workers together allow exactly the limit."""
    url, _ = redis_server
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    multiproc = tmp_path / "prometheus-multiproc"
    limit = 30
    env = _service_env(
        tmp_path,
        port,
        WEB_CONCURRENCY="2",
        REDIS_URL=url,
        RATE_LIMIT_PER_MINUTE=str(limit),
        PROMETHEUS_MULTIPROC_DIR=str(multiproc),
    )
    with _running(GUNICORN, env, tmp_path):
        wait_http(f"{base}/health/live")

        def hit(_: int) -> httpx.Response:
            # A new connection each time, so the kernel spreads them over both workers.
            return httpx.get(f"{base}/api/v1/items", headers={"Connection": "close"})

        with ThreadPoolExecutor(max_workers=4) as pool:
            responses = list(pool.map(hit, range(3 * limit)))
        statuses = [r.status_code for r in responses]
        assert len(_worker_pids(multiproc)) == 2, "both workers served requests"
        assert statuses.count(200) == limit
        assert statuses.count(429) == 2 * limit
        retry_after = {int(r.headers["Retry-After"]) for r in responses if r.status_code == 429}
        assert all(1 <= seconds <= 60 for seconds in retry_after)
        assert all(r.json()["detail"] == "rate limit exceeded" for r in responses[-limit:])
