"""The sidecar's configuration: a YAML file, overridden by SIDECAR_* environment variables.

Environment overrides nest with `__`, e.g. SIDECAR_LOKI__URL or SIDECAR_SERVER__PORT; they
win over the file so one image can be re-pointed without editing its mounted config.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from sidecar.accesslog.config import AccessLogConfig
from sidecar.health.config import HealthConfig

LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
# The sidecar sets these itself on every stream (DESIGN.md: low-cardinality stream labels).
RESERVED_LABELS = frozenset({"service_name", "level", "source"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerConfig(_Strict):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 9105


class BasicAuth(_Strict):
    username: Annotated[str, Field(min_length=1)]
    password: SecretStr


class TlsConfig(_Strict):
    ca_file: Path | None = None
    # Verification stays on unless someone opts out in writing.
    insecure_skip_verify: bool = False


class BackoffConfig(_Strict):
    min_seconds: Annotated[float, Field(gt=0)] = 0.5
    max_seconds: Annotated[float, Field(gt=0)] = 30.0
    # Retry-After above this is treated as this, so a bogus header cannot park a source forever.
    max_retry_after_seconds: Annotated[float, Field(gt=0)] = 300.0


class LokiConfig(_Strict):
    url: Annotated[str, Field(pattern=r"^https?://")] = "http://127.0.0.1:3100/loki/api/v1/push"
    tenant_id: str | None = None
    basic_auth: BasicAuth | None = None
    bearer_token: SecretStr | None = None
    tls: TlsConfig = TlsConfig()
    encoding: Literal["protobuf", "json"] = "protobuf"
    timeout_seconds: Annotated[float, Field(gt=0)] = 10.0
    batch_max_bytes: Annotated[int, Field(ge=1024)] = 1024 * 1024
    batch_max_wait_seconds: Annotated[float, Field(gt=0)] = 1.0
    max_in_flight: Annotated[int, Field(ge=1, le=64)] = 4
    backoff: BackoffConfig = BackoffConfig()

    @field_validator("bearer_token")
    @classmethod
    def _one_auth(cls, value: SecretStr | None, info: Any) -> SecretStr | None:
        if value is not None and info.data.get("basic_auth") is not None:
            raise ValueError("set either basic_auth or bearer_token, not both")
        return value


class ShippingConfig(_Strict):
    positions_file: Path = Path("/var/lib/sidecar/positions.json")
    buffer_max_bytes: Annotated[int, Field(ge=64 * 1024)] = 64 * 1024 * 1024
    max_line_bytes: Annotated[int, Field(ge=256)] = 256 * 1024
    scan_interval_seconds: Annotated[float, Field(gt=0, le=1.0)] = 1.0
    poll_interval_seconds: Annotated[float, Field(gt=0)] = 0.25
    read_chunk_bytes: Annotated[int, Field(ge=4096)] = 256 * 1024
    # How long a rotated-away file must stay quiet before it is considered drained.
    rotate_wait_seconds: Annotated[float, Field(ge=0)] = 5.0
    checkpoint_interval_seconds: Annotated[float, Field(gt=0)] = 1.0
    shutdown_deadline_seconds: Annotated[float, Field(gt=0)] = 10.0


class JsonFields(_Strict):
    """Where a JSON record keeps the fields the sidecar reads (DESIGN.md names by default)."""

    timestamp: str = "timestamp"
    level: str = "level"
    trace_id: str = "trace_id"
    span_id: str = "span_id"


class TextFormat(_Strict):
    """How to find level and timestamp in a plain-text line."""

    level_pattern: str | None = None
    timestamp_pattern: str | None = None
    # strptime format for the `timestamp` group; None means RFC 3339 / ISO 8601.
    timestamp_format: str | None = None

    @field_validator("level_pattern", "timestamp_pattern")
    @classmethod
    def _compiles_with_group(cls, value: str | None, info: Any) -> str | None:
        if value is None:
            return value
        group = "level" if info.field_name == "level_pattern" else "timestamp"
        try:
            compiled = re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from exc
        if group not in compiled.groupindex:
            raise ValueError(f"must have a named group (?P<{group}>...)")
        return value


class SourceConfig(_Strict):
    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")]
    service_name: Annotated[str, Field(min_length=1)]
    paths: Annotated[list[str], Field(min_length=1)]
    exclude: list[str] = []
    format: Literal["json", "docker", "text"] = "json"
    labels: dict[str, str] = {}
    json_fields: JsonFields = JsonFields()
    text: TextFormat = TextFormat()
    access_log: AccessLogConfig | None = None

    @field_validator("labels")
    @classmethod
    def _label_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not LABEL_NAME.match(name) or name.startswith("__"):
                raise ValueError(f"label name {name!r} is not a valid Loki label name")
            if name in RESERVED_LABELS:
                raise ValueError(f"label {name!r} is set by the sidecar and cannot be static")
        return value


class SidecarConfig(BaseSettings):
    """The root of the config file."""

    model_config = SettingsConfigDict(
        env_prefix="SIDECAR_", env_nested_delimiter="__", extra="forbid"
    )

    log_level: Literal["debug", "info", "warning", "error"] = "info"
    server: ServerConfig = ServerConfig()
    loki: LokiConfig = LokiConfig()
    shipping: ShippingConfig = ShippingConfig()
    sources: list[SourceConfig] = []
    health: HealthConfig = HealthConfig()

    @field_validator("sources")
    @classmethod
    def _unique_names(cls, value: list[SourceConfig]) -> list[SourceConfig]:
        names = [source.name for source in value]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"source names must be unique; repeated: {', '.join(duplicates)}")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The YAML arrives as init kwargs; the environment must override it.
        return (env_settings, init_settings)


class ConfigError(Exception):
    """A config that cannot be used; the message names the offending field path."""


def load_config(path: Path) -> SidecarConfig:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    try:
        return SidecarConfig(**raw)
    except ValidationError as exc:
        raise ConfigError(_describe(path, exc)) from exc


def _describe(path: Path, exc: ValidationError) -> str:
    lines = [f"{path}: invalid config"]
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "(root)"
        lines.append(f"  {where}: {error['msg']}")
    return "\n".join(lines)
