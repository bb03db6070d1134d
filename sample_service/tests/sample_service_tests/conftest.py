"""Fixtures for the service tests: a migrated SQLite database per test, apps built from
explicit settings (never from the developer's environment or .env), and a tracer
provider with an in-memory exporter."""

from __future__ import annotations

import gc
import logging
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sample_service.app_factory import create_app
from sample_service.core.settings import Settings
from sample_service.db.migrate import upgrade_to_head

OTEL_ENV = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_SDK_DISABLED",
    "OTEL_TRACES_EXPORTER",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
    "PROMETHEUS_MULTIPROC_DIR",
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test inherits an exporter endpoint or multiprocess mode from the shell."""
    for name in OTEL_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _unfreeze_gc() -> Iterator[None]:
    """Every app startup freezes the heap (core/gc_freeze.py); in this one long pytest
    process that would keep each test's objects forever, so they are released after it."""
    yield
    gc.unfreeze()


# logging's module switches configure_logging turns off for speed (core/log_config.py).
LOGGING_SWITCHES = ("_srcfile", "logThreads", "logProcesses", "logMultiprocessing")


@pytest.fixture(autouse=True)
def _restore_logging_switches() -> Iterator[None]:
    """Every app startup turns off logging's caller lookup (and with it stack_info) for
    the whole process; put them back after each test, so the tests that run later in
    this pytest process (the sidecar's write tracebacks with stack_info) log as usual."""
    saved = {name: getattr(logging, name) for name in LOGGING_SWITCHES}
    tasks = getattr(logging, "logAsyncioTasks", None)
    yield
    for name, value in saved.items():
        setattr(logging, name, value)
    if tasks is not None:
        logging.logAsyncioTasks = tasks


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One database migrated to head; each test gets a copy (migrating each time is slow)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade_to_head(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture
def database_url(tmp_path: Path, migrated_template: Path) -> str:
    path = tmp_path / "service.db"
    shutil.copyfile(migrated_template, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
def make_settings(database_url: str) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": database_url,
            "jwt_secret": "test-secret-of-sufficient-length-0123456789",
            "rate_limit_per_minute": 10_000,
            "auth_rate_limit_per_minute": 10_000,
            "account_rate_limit_per_minute": 10_000,
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]  # pydantic-settings' _env_file is no model field

    return make


@pytest.fixture
def span_exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer_provider(span_exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    yield provider
    provider.shutdown()


@pytest.fixture
def make_client(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., TestClient]]:
    """Builds an app from setting overrides and opens a TestClient on it (lifespan included)."""
    clients: list[TestClient] = []

    def make(
        tracer_provider: TracerProvider | None = None,
        customize: Callable[[FastAPI], None] | None = None,
        **overrides: Any,
    ) -> TestClient:
        app = create_app(make_settings(**overrides), tracer_provider=tracer_provider)
        if customize is not None:
            customize(app)
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Tests that run dictConfig put the root logger back as they found it."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)


def _register_and_login(
    client: TestClient,
    email: str = "ada@example.com",
    password: str = "correct horse battery",  # noqa: S107 (a test user)
) -> dict[str, str]:
    response = client.post(
        "/api/v1/users", json={"email": email, "full_name": "Ada", "password": password}
    )
    assert response.status_code == 201, response.text
    response = client.post("/api/v1/auth/token", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
def login() -> Callable[..., dict[str, str]]:
    """register_and_login(client, email=..., password=...) -> the Authorization header."""
    return _register_and_login
