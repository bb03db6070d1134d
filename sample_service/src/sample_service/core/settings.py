"""Settings from the environment and `.env` (pydantic-settings); no secret has a default."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from pydantic import AnyHttpUrl, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of the service; each field reads the env variable of its upper-case name."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    service_name: str = Field("sample-service", min_length=1, max_length=64)
    environment: str = "development"
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    # Gunicorn worker count; `python -m sample_service` always serves with one process.
    web_concurrency: int = Field(2, ge=1, le=64)

    database_url: str = "sqlite+aiosqlite:///./sample_service.db"
    redis_url: str | None = None
    cache_ttl_seconds: float = Field(30.0, gt=0)

    log_level: str = "info"
    log_file: str | None = None
    # Off only for the overhead benchmark's bare baseline.
    access_log_enabled: bool = True
    metrics_enabled: bool = True

    # Unset: a random per-process key, so tokens die with the process (fine for a demo,
    # wrong under several workers: set it there).
    jwt_secret: SecretStr | None = None
    jwt_expire_minutes: int = Field(30, ge=1, le=24 * 60)

    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    rate_limit_per_minute: int = Field(600, ge=1)

    upstream_url: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8000/health/live")
    upstream_timeout_seconds: float = Field(2.0, gt=0, le=60)

    sentry_dsn: SecretStr | None = None
    sentry_environment: str | None = None

    fault_injection_enabled: bool = False
    fault_admin_token: SecretStr | None = None
    # Shared by gunicorn workers so a fault set through one worker reaches all of them.
    fault_state_file: str | None = None

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        """CORS_ORIGINS is a comma-separated list in the environment."""
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.lower()
        if level not in {"debug", "info", "warning", "error", "critical"}:
            raise ValueError("log_level must be one of debug, info, warning, error, critical")
        return level


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
