"""The sidecar's configuration: a YAML file, overridden by SIDECAR_* environment variables.

Environment overrides nest with `__`, e.g. SIDECAR_LOKI__URL or SIDECAR_SERVER__PORT; they
win over the file so one image can be re-pointed without editing its mounted config.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from sidecar import telemetry_contract as contract
from sidecar.health.config import HealthConfig
from sidecar.shipping.config import LokiConfig, ShippingConfig, SourceConfig

__all__ = [
    "LokiConfig",
    "ServicesFileConfig",
    "ShippingConfig",
    "SidecarConfig",
    "SourceConfig",
    "load_config",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerConfig(_Strict):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = contract.PORT


class ServicesFileConfig(_Strict):
    """The services file (services.yaml): the log sources and health checks of the
    services it lists are added to this config's own, and follow the file while the
    sidecar runs (sidecar/services/watch.py)."""

    path: Path
    # Only these services of the file (default: every one); e.g. the sidecar in one
    # service's pod watches that service alone.
    services: list[str] | None = None
    # How often the file is looked at; a changed one is validated, then applied.
    poll_interval_seconds: Annotated[float, Field(gt=0, le=60)] = 2.0


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
    services_file: ServicesFileConfig | None = None

    @field_validator("sources")
    @classmethod
    def _unique_names(cls, value: list[SourceConfig]) -> list[SourceConfig]:
        names = [source.name for source in value]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"source names must be unique; repeated: {', '.join(duplicates)}")
        return value

    @model_validator(mode="after")
    def _records_fit_in_a_line(self) -> SidecarConfig:
        limit = self.shipping.max_line_bytes
        for index, source in enumerate(self.sources):
            multiline = source.multiline
            if multiline is not None and (multiline.max_bytes or 0) > limit:
                raise ValueError(
                    f"sources[{index}] ({source.name}): multiline.max_bytes "
                    f"({multiline.max_bytes}) exceeds shipping.max_line_bytes ({limit})"
                )
        return self

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
