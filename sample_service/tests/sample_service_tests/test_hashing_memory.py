"""Concurrent wrong-password logins cannot exhaust one worker's memory.

Each Argon2 hash holds its memory cost for its whole run; unbounded, 40 concurrent logins
took one process past a gigabyte. The worst case is a stored hash with argon2-cffi's
defaults (64 MiB, which every hash had before the OWASP parameters; a hash is only
replaced at a successful login). One gunicorn worker, 40 concurrent wrong-password logins
against such a hash: the worker's peak RSS (VmHWM) stays under 300 MiB. The same load
with 16 hashing slots shows the measurement would catch the unbounded case.
"""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psutil
import pytest
from argon2 import PasswordHasher as Argon2

from sample_service_tests.test_processes import GUNICORN, _running, _service_env
from tests.support import free_port, wait_http

pytestmark = pytest.mark.integration

MIB = 1024 * 1024
LEGACY = Argon2(time_cost=3, memory_cost=65_536, parallelism=4)  # argon2-cffi's defaults
EMAIL = "victim@example.com"


def _peak_rss_under_login_flood(tmp_path: Path, concurrency: str) -> tuple[int, list[int]]:
    tmp_path.mkdir()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = _service_env(
        tmp_path,
        port,
        WEB_CONCURRENCY="1",
        PASSWORD_HASH_CONCURRENCY=concurrency,
        PASSWORD_HASH_WAIT_SECONDS="30",
    )
    with _running(GUNICORN, env, tmp_path) as master:
        wait_http(f"{base}/health/live")
        user = {"email": EMAIL, "full_name": "V", "password": "the-right-password"}
        assert httpx.post(f"{base}/api/v1/users", json=user).status_code == 201
        with sqlite3.connect(tmp_path / "service.db") as db:
            db.execute(
                "UPDATE users SET password_hash = ? WHERE email = ?",
                (LEGACY.hash("the-right-password"), EMAIL),
            )
        [worker] = psutil.Process(master.pid).children()

        def wrong_login(number: int) -> int:
            body = {"email": EMAIL, "password": f"wrong-password-{number}"}
            return httpx.post(f"{base}/api/v1/auth/token", json=body, timeout=120).status_code

        with ThreadPoolExecutor(max_workers=40) as pool:
            statuses = list(pool.map(wrong_login, range(40)))
        status = Path(f"/proc/{worker.pid}/status").read_text()
        peak_kib = int(
            next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1]
        )
    return peak_kib * 1024, statuses


def test_forty_concurrent_wrong_logins_keep_one_worker_under_300_mib(tmp_path: Path) -> None:
    bounded, statuses = _peak_rss_under_login_flood(tmp_path / "bounded", "2")
    assert statuses == [401] * 40, "every login was really verified against the 64 MiB hash"
    assert bounded < 300 * MIB, f"peak RSS {bounded / MIB:.0f} MiB"

    unbounded, statuses = _peak_rss_under_login_flood(tmp_path / "unbounded", "16")
    assert statuses == [401] * 40
    assert unbounded > 300 * MIB, "the measurement sees concurrent hashes' memory"
    print(f"\npeak RSS: {bounded / MIB:.0f} MiB with 2 slots, {unbounded / MIB:.0f} MiB with 16")
