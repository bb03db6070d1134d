"""Settings come from the environment and .env; no secret has a default."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from sample_service.core.settings import Settings


def test_environment_and_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("SERVICE_NAME=from-dotenv\nRATE_LIMIT_PER_MINUTE=7\n")
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("RATE_LIMIT_PER_MINUTE", "9")  # the environment wins over .env
    settings = Settings(_env_file=env_file)  # type: ignore[call-arg]
    assert settings.service_name == "from-dotenv"
    assert settings.rate_limit_per_minute == 9
    assert settings.cors_origins == ["https://a.example", "https://b.example"]


def test_secure_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("JWT_SECRET", "SENTRY_DSN", "FAULT_ADMIN_TOKEN", "HOST", "CORS_ORIGINS"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
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
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_secrets_do_not_show_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_SECRET", "super-secret-signing-key-0123456789")
    assert "super-secret-signing-key" not in repr(Settings(_env_file=None))  # type: ignore[call-arg]
