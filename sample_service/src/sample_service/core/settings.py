"""Settings from the environment and `.env` (pydantic-settings); no secret has a default.

`load_settings()` is what the entry points call: an invalid or unsafe setting stops the
process at start with one line per offending variable, instead of a traceback.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from typing import Annotated, Self

from pydantic import AnyHttpUrl, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from sample_service import telemetry_contract as contract

# HS256 keys and bearer tokens shorter than this can be brute-forced offline (RFC 7518
# section 3.2 asks for a key at least as long as the hash output, 256 bits).
MIN_SECRET_BYTES = 32
_GENERATE = "generate one with: openssl rand -base64 32"


class Settings(BaseSettings):
    """Every knob of the service; each field reads the env variable of its upper-case name."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    service_name: str = Field("sample-service", min_length=1, max_length=64)
    environment: str = "development"
    host: str = "127.0.0.1"
    port: int = Field(contract.PORT, ge=1, le=65535)
    # Gunicorn worker count; `python -m sample_service` always serves with one process.
    web_concurrency: int = Field(2, ge=1, le=64)

    database_url: str = "sqlite+aiosqlite:///./sample_service.db"
    # The item cache and, so one limit holds across workers and replicas, the rate limits.
    redis_url: str | None = None
    cache_ttl_seconds: float = Field(30.0, gt=0)

    log_level: str = "info"
    log_file: str | None = None
    # Off only for the overhead benchmark's bare baseline.
    access_log_enabled: bool = True
    metrics_enabled: bool = True

    # Request bounds, checked before anything is parsed.
    max_body_bytes: int = Field(1024 * 1024, ge=0)
    max_header_count: int = Field(100, ge=10, le=1000)
    max_header_bytes: int = Field(16 * 1024, ge=1024, le=1024 * 1024)

    # Unset: a random per-process key, so tokens die with the process (fine for a demo,
    # wrong under several workers: set it there).
    jwt_secret: SecretStr | None = None
    jwt_expire_minutes: int = Field(30, ge=1, le=24 * 60)

    # Argon2id runs at most this many hashes at once per process (each takes ~19 MiB);
    # a request waits for a slot at most password_hash_wait_seconds, then gets a 503.
    password_hash_concurrency: int = Field(2, ge=1, le=32)
    password_hash_wait_seconds: float = Field(5.0, gt=0, le=60)

    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Per client address (an IPv6 client by its /64), over every /api/v1 route.
    rate_limit_per_minute: int = Field(600, ge=1)
    # Per client address, over login, registration and the admin endpoints.
    auth_rate_limit_per_minute: int = Field(10, ge=1)
    # Per e-mail address, over login and registration.
    account_rate_limit_per_minute: int = Field(5, ge=1)

    upstream_url: AnyHttpUrl = AnyHttpUrl(f"http://127.0.0.1:{contract.PORT}/health/live")
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

    @field_validator("jwt_secret", "fault_admin_token", "sentry_dsn", "redis_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """`VAR=` (compose's `${VAR:-}`) means unset, never an empty secret."""
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("jwt_secret")
    @classmethod
    def _long_jwt_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            length = len(value.get_secret_value().encode())
            if length < MIN_SECRET_BYTES:
                raise ValueError(
                    f"JWT_SECRET is {length} bytes; it must be at least {MIN_SECRET_BYTES} "
                    f"bytes ({_GENERATE}), or unset for a random per-start key"
                )
        return value

    @model_validator(mode="after")
    def _safe_fault_injection(self) -> Self:
        if not self.fault_injection_enabled:
            return self
        token = self.fault_admin_token
        length = 0 if token is None else len(token.get_secret_value().encode())
        if length < MIN_SECRET_BYTES:
            raise ValueError(
                f"FAULT_INJECTION_ENABLED=true needs FAULT_ADMIN_TOKEN of at least "
                f"{MIN_SECRET_BYTES} bytes, got {length} ({_GENERATE})"
            )
        return self

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.lower()
        if level not in {"debug", "info", "warning", "error", "critical"}:
            raise ValueError("log_level must be one of debug, info, warning, error, critical")
        return level


def describe_errors(error: ValidationError) -> str:
    """One line per offending variable, named as it is set, without the rejected value."""
    lines = []
    for item in error.errors():
        variable = "_".join(str(part) for part in item["loc"]).upper() or "settings"
        message = str(item["msg"]).removeprefix("Value error, ")
        lines.append(f"  {variable}: {message}")
    return "\n".join(lines)


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()


def load_settings() -> Settings:
    """get_settings() for the entry points: invalid settings end the process, clearly."""
    try:
        return get_settings()
    except ValidationError as error:
        print(f"sample_service: refusing to start:\n{describe_errors(error)}", file=sys.stderr)
        raise SystemExit(2) from None
