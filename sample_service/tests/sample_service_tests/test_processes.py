"""The service as real processes: `python -m sample_service` (migrations, then HOST:PORT) and
gunicorn with two uvicorn workers sharing multiprocess metrics."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sample_service_tests.receivers import OtlpHttpReceiver
from tests.support import free_port, wait_http

pytestmark = pytest.mark.integration

OPENMETRICS = "application/openmetrics-text; version=1.0.0"
GUNICORN = [
    sys.executable,
    *("-m", "gunicorn", "-c", "python:sample_service.gunicorn_conf", "sample_service.main:app"),
]


def _service_env(tmp_path: Path, port: int, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("OTEL_", "SENTRY_", "PROMETHEUS_", "DATABASE_", "LOG_"))
    }
    env.update(
        HOST="127.0.0.1",
        PORT=str(port),
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/service.db",
        LOG_FILE=str(tmp_path / "logs" / "service.log"),
        JWT_SECRET="process-test-secret-0123456789abcdef",
        RATE_LIMIT_PER_MINUTE="100000",
        AUTH_RATE_LIMIT_PER_MINUTE="100000",
        ACCOUNT_RATE_LIMIT_PER_MINUTE="100000",
    )
    env.update(extra)
    return env


@contextmanager
def _running(
    command: list[str], env: dict[str, str], cwd: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with (cwd / "stderr.log").open("wb") as stderr:
        process = subprocess.Popen(
            command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=stderr
        )
        try:
            yield process
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_python_m_migrates_then_serves(tmp_path: Path) -> None:
    port = free_port()
    env = _service_env(tmp_path, port, SERVICE_NAME="module-run")
    with _running([sys.executable, "-m", "sample_service"], env, tmp_path):
        wait_http(f"http://127.0.0.1:{port}/health/ready")
        response = httpx.get(f"http://127.0.0.1:{port}/api/v1/items")
        assert response.status_code == 200
        assert response.json()["total"] == 0  # the tables exist: migrations ran
    lines = (tmp_path / "logs" / "service.log").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert {r["service_name"] for r in records} == {"module-run"}
    assert any(r.get("url_path") == "/api/v1/items" for r in records)


def _request_counts(text: str, route: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if (
                sample.name == "http_server_request_duration_seconds_count"
                and sample.labels["http_route"] == route
            ):
                total += sample.value
    return total


def test_gunicorn_workers_share_metric_totals(tmp_path: Path) -> None:
    port = free_port()
    multiproc = tmp_path / "prometheus-multiproc"
    base = f"http://127.0.0.1:{port}"
    # Tracing on, so that in single-process mode these requests would carry exemplars.
    with OtlpHttpReceiver() as receiver:
        env = _service_env(
            tmp_path,
            port,
            WEB_CONCURRENCY="2",
            PROMETHEUS_MULTIPROC_DIR=str(multiproc),
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url,
        )
        with _running(GUNICORN, env, tmp_path) as process:
            wait_http(f"{base}/health/live")
            sent = 0

            def hit(_: int) -> int:
                # A new connection each time, so the kernel spreads them over both workers.
                response = httpx.get(f"{base}/api/v1/items", headers={"Connection": "close"})
                return response.status_code

            with ThreadPoolExecutor(max_workers=8) as pool:
                for _ in range(10):
                    statuses = list(pool.map(hit, range(40)))
                    assert set(statuses) == {200}
                    sent += len(statuses)
                    writers = {p.name for p in multiproc.glob("histogram_*.db")}
                    if len(writers) >= 2:
                        break
            assert len(writers) >= 2, f"requests did not reach both workers: {writers}"

            # Whichever worker answers the scrape, the totals are those of all workers.
            for _ in range(4):
                scrape = httpx.get(f"{base}/metrics", headers={"Connection": "close"})
                assert _request_counts(scrape.text, "/api/v1/items") == sent

            openmetrics = httpx.get(f"{base}/metrics", headers={"Accept": OPENMETRICS})
            assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
            assert "http_server_request_duration_seconds_bucket{" in openmetrics.text
            # prometheus-client keeps no exemplars in multiprocess mode (documented).
            assert "trace_id" not in openmetrics.text
            assert process.poll() is None
        # Each worker's batch exporter flushed its spans at shutdown.
        assert {path for path, _, _ in receiver.requests} == {"/v1/traces"}


def test_gunicorn_workers_share_a_token_key_without_jwt_secret(tmp_path: Path) -> None:
    """With JWT_SECRET unset, a token one worker issued must still verify on the other."""
    port = free_port()
    env = _service_env(tmp_path, port, WEB_CONCURRENCY="2")
    del env["JWT_SECRET"]
    base = f"http://127.0.0.1:{port}"
    with _running(GUNICORN, env, tmp_path):
        wait_http(f"{base}/health/live")
        user = {"email": "workers@example.com", "full_name": "W", "password": "password123"}
        assert httpx.post(f"{base}/api/v1/users", json=user).status_code == 201
        login = {"email": user["email"], "password": user["password"]}
        token = httpx.post(f"{base}/api/v1/auth/token", json=login).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}", "Connection": "close"}

        def me(_: int) -> int:
            # A new connection each time, so the kernel spreads them over both workers
            # (test_gunicorn_workers_share_metric_totals shows that it does).
            return httpx.get(f"{base}/api/v1/users/me", headers=headers).status_code

        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(me, range(80)))
        assert set(statuses) == {200}
