"""Settings from the environment (ONCALL_*); a bad value stops the start naming the variable."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from oncall import telemetry_contract as contract


class SettingsError(ValueError):
    """An ONCALL_* variable has a value the service cannot use."""


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = contract.PORT
    # Where the runbooks' markdown is (docs/runbooks/, mounted read-only).
    runbooks_dir: Path = Path("/srv/runbooks")
    # One JSON record per notification; the sidecar tails this file and ships it to Loki.
    log_file: Path = Path("/var/log/oncall/inbox.log")
    log_max_bytes: int = 10 * 1024 * 1024
    log_backups: int = 3
    # Notifications kept for the inbox page and /api/notifications.
    inbox_size: int = 200


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}: expected a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name}: {value} is outside {low}..{high}")
    return value


def from_env(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    defaults = Settings()
    return Settings(
        host=env.get("ONCALL_HOST", "").strip() or defaults.host,
        port=_int(env, "ONCALL_PORT", defaults.port, 1, 65535),
        runbooks_dir=Path(env.get("ONCALL_RUNBOOKS_DIR", "").strip() or defaults.runbooks_dir),
        log_file=Path(env.get("ONCALL_LOG_FILE", "").strip() or defaults.log_file),
        log_max_bytes=_int(env, "ONCALL_LOG_MAX_BYTES", defaults.log_max_bytes, 64 * 1024, 1024**3),
        log_backups=_int(env, "ONCALL_LOG_BACKUPS", defaults.log_backups, 1, 9),
        inbox_size=_int(env, "ONCALL_INBOX_SIZE", defaults.inbox_size, 1, 10_000),
    )
