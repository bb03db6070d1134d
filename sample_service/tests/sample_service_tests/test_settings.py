"""Settings come from the environment and .env; no secret has a default."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError
from sample_service.core.settings import Settings, describe_errors

from sample_service_tests.test_processes import GUNICORN
from tests.support import free_port


def test_environment_and_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("SERVICE_NAME=from-dotenv\nRATE_LIMIT_PER_MINUTE=7\n")
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("RATE_LIMIT_PER_MINUTE", "9")  # the environment wins over .env
    settings = Settings(_env_file=env_file)  # type: ignore[call-arg]  # pydantic-settings' _env_file is no model field
    assert settings.service_name == "from-dotenv"
    assert settings.rate_limit_per_minute == 9
    assert settings.cors_origins == ["https://a.example", "https://b.example"]


def test_secure_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("JWT_SECRET", "SENTRY_DSN", "FAULT_ADMIN_TOKEN", "HOST", "CORS_ORIGINS"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]  # pydantic-settings' _env_file is no model field
    assert settings.host == "127.0.0.1"
    assert settings.jwt_secret is None
    assert settings.sentry_dsn is None
    assert settings.fault_admin_token is None
    assert settings.fault_injection_enabled is False
    assert settings.cors_origins == []
    assert settings.database_url.startswith("sqlite+aiosqlite://")


def test_bad_values_name_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "99999")
    with pytest.raises(ValidationError, match="port"):
        Settings(_env_file=None)  # type: ignore[call-arg]  # pydantic-settings' _env_file is no model field


def test_secrets_do_not_show_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_SECRET", "super-secret-signing-key-0123456789")
    assert "super-secret-signing-key" not in repr(Settings(_env_file=None))  # type: ignore[call-arg]  # pydantic-settings' _env_file is no model field


@pytest.mark.parametrize("value", ["x", "31-bytes-of-secret-0123456789ab"])
def test_a_short_jwt_secret_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("JWT_SECRET", value)
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None)  # type: ignore[call-arg]  # pydantic-settings' _env_file is no model field
    message = describe_errors(refused.value)
    assert message.startswith("  JWT_SECRET: JWT_SECRET is")
    assert "at least 32 bytes" in message
    assert value not in message


def test_an_empty_secret_means_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    """Compose's ${VAR:-} passes an empty string for an unset variable."""
    for name in ("JWT_SECRET", "FAULT_ADMIN_TOKEN", "SENTRY_DSN", "REDIS_URL"):
        monkeypatch.setenv(name, "")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]  # pydantic-settings' _env_file is no model field
    assert settings.jwt_secret is None
    assert settings.fault_admin_token is None
    assert settings.sentry_dsn is None
    assert settings.redis_url is None


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"JWT_SECRET": "too-short"}, "JWT_SECRET"),
        ({"FAULT_INJECTION_ENABLED": "true", "FAULT_ADMIN_TOKEN": ""}, "FAULT_ADMIN_TOKEN"),
        ({"FAULT_INJECTION_ENABLED": "true", "FAULT_ADMIN_TOKEN": "short"}, "FAULT_ADMIN_TOKEN"),
    ],
)
@pytest.mark.parametrize("entry_point", ["module", "gunicorn"])
def test_the_service_refuses_to_start_with_a_clear_message(
    tmp_path: Path, env: dict[str, str], named: str, entry_point: str
) -> None:
    base = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("JWT_", "FAULT_", "OTEL_", "SENTRY_", "DATABASE_", "LOG_"))
    }
    base.update(
        PORT=str(free_port()), DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/db.sqlite", **env
    )
    command = [sys.executable, "-m", "sample_service"]
    if entry_point == "gunicorn":
        command = GUNICORN
    result = subprocess.run(
        command, env=base, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "refusing to start" in result.stderr
    assert named in result.stderr
    assert "32 bytes" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "db.sqlite").exists(), "nothing ran before the check"
