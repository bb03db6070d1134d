"""DATABASE_URL alone switches to PostgreSQL (asyncpg): migrations and the API run unchanged
against a real, throwaway PostgreSQL server."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sample_service.db.engine import create_engine
from sample_service.db.migrate import upgrade_to_head

from tests.support import free_port, require_binary

pytestmark = pytest.mark.integration


def _postgres_bin(name: str) -> str:
    """Debian keeps the server binaries off PATH, under /usr/lib/postgresql/<version>/bin."""
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    return found or require_binary(name, how="apt-get install -y postgresql")


def _as_postgres(command: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; CI runs as root, so drop to the postgres user.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    initdb, pg_ctl = _postgres_bin("initdb"), _postgres_bin("pg_ctl")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("no postgres user to run the server as: apt-get install -y postgresql")
    root = Path(tempfile.mkdtemp(prefix="sample-service-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, user="postgres")
    data, port = root / "data", free_port()
    subprocess.run(
        _as_postgres([initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]),
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        _as_postgres(
            [pg_ctl, "-D", str(data), "-o", options, "-l", str(root / "pg.log"), "-w", "start"]
        ),
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_postgres([pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"]), capture_output=True
        )
        shutil.rmtree(root, ignore_errors=True)


def test_url_selects_the_driver() -> None:
    postgres = create_engine("postgresql+asyncpg://u:p%40ss@db.example:5432/app")
    sqlite = create_engine("sqlite+aiosqlite:///./x.db")
    assert (postgres.dialect.name, postgres.dialect.driver) == ("postgresql", "asyncpg")
    assert (sqlite.dialect.name, sqlite.dialect.driver) == ("sqlite", "aiosqlite")
    assert postgres.url.password == "p@ss"  # percent-decoded, so any password works


def test_same_code_runs_on_postgresql(
    postgres_url: str,
    make_client: Callable[..., TestClient],
    login: Callable[..., dict[str, str]],
) -> None:
    upgrade_to_head(postgres_url)
    client = make_client(database_url=postgres_url)
    ready = client.get("/health/ready")
    assert ready.status_code == 200, ready.text
    auth = login(client, email="pg@example.com")
    item = client.post("/api/v1/items", json={"name": "pg", "price": "2.50"}, headers=auth).json()
    assert client.get(f"/api/v1/items/{item['id']}").json()["price"] == "2.50"
    assert client.get("/api/v1/items").json()["total"] == 1
    duplicate = client.post(
        "/api/v1/users",
        json={"email": "pg@example.com", "full_name": "Again", "password": "password123"},
    )
    assert duplicate.status_code == 409
