"""The log-shipping part of the sidecar config: where Loki is, how to read, what to read.

`SourceConfig` is self-contained so a list of sources can come from another file (a
services file) as well as from the sidecar's own YAML.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from sidecar import telemetry_contract as contract
from sidecar.accesslog.config import AccessLogConfig

_GLOB_MAGIC = re.compile(r"[*?[]")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
# The sidecar sets these itself on every stream (contract/README.md, Loki streams).
RESERVED_LABELS = frozenset(contract.STREAM_LABELS)  # the sidecar sets these itself


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


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
    def _one_auth(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is not None and info.data.get("basic_auth") is not None:
            raise ValueError("set either basic_auth or bearer_token, not both")
        return value


class ShippingConfig(_Strict):
    positions_file: Path = Path("/var/lib/sidecar/positions.json")
    # Enough for max_in_flight full batches and the next ones; the rest waits in the
    # files. Small enough that both processes keep to the memory target while catching
    # up (bench/log_shipping/README.md, "Issue 11b").
    buffer_max_bytes: Annotated[int, Field(ge=64 * 1024)] = 24 * 1024 * 1024
    max_line_bytes: Annotated[int, Field(ge=256)] = 256 * 1024
    scan_interval_seconds: Annotated[float, Field(gt=0, le=1.0)] = 1.0
    poll_interval_seconds: Annotated[float, Field(gt=0)] = 0.25
    read_chunk_bytes: Annotated[int, Field(ge=4096)] = 256 * 1024
    # How long a rotated-away file must stay quiet before it is considered drained.
    rotate_wait_seconds: Annotated[float, Field(ge=0)] = 5.0
    checkpoint_interval_seconds: Annotated[float, Field(gt=0)] = 1.0
    shutdown_deadline_seconds: Annotated[float, Field(gt=0)] = 10.0
    # A source with a backlog and no acknowledged progress this long, while Loki answers,
    # is reported stalled (metric, /health/ready warn, LogShippingStalled).
    stall_after_seconds: Annotated[float, Field(gt=0)] = 60.0
    # Where shipping runs: a child process of its own (its garbage collections and
    # CPU cannot hold up /health and the probes), or a thread of the main process
    # (one process less, less memory). sidecar/README.md "Processes".
    isolation: Literal["process", "thread"] = "process"
    # A shipping process that sent no ready status this long (hung, or a loop of it
    # died) is killed and started again. Longer than shutdown_deadline_seconds, since a
    # new process waits that long for a predecessor still draining.
    unready_restart_seconds: Annotated[float, Field(gt=0)] = 60.0

    @model_validator(mode="after")
    def _restart_after_drain(self) -> ShippingConfig:
        if self.unready_restart_seconds <= self.shutdown_deadline_seconds:
            raise ValueError(
                "unready_restart_seconds must be longer than shutdown_deadline_seconds "
                "(a new shipping process waits that long for its predecessor)"
            )
        return self


class JsonFields(_Strict):
    """Where a JSON record keeps the fields the sidecar reads (the contract's by default)."""

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
    def _compiles_with_group(cls, value: str | None, info: ValidationInfo) -> str | None:
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


class MultilineConfig(_Strict):
    """Joins continuation lines (a Python traceback, a Java stack trace) to the line that
    starts their record, so the record is one Loki entry (shipping/multiline.py)."""

    # A line this regular expression matches (re.search on the line's bytes) starts a new
    # record; the lines after it that do not match belong to it. Anchor it: ^\d{4}-\d{2}-.
    start: Annotated[str, Field(min_length=1)]
    # A record longer than either limit is shipped as it stands and the next line starts
    # a new one (counted: lines_malformed_total{reason="multiline_split"}).
    max_lines: Annotated[int, Field(ge=2, le=10_000)] = 128
    # None: the sidecar's shipping.max_line_bytes (Loki's max_line_size).
    max_bytes: Annotated[int | None, Field(ge=256)] = None
    # A record with no new line for this long is shipped (its next line may never come).
    flush_seconds: Annotated[float, Field(gt=0, le=60)] = 3.0

    @field_validator("start")
    @classmethod
    def _start_pattern(cls, value: str) -> str:
        try:
            compiled = re.compile(value.encode())
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from exc
        if compiled.search(b"") is not None:
            raise ValueError(
                f"{value!r} matches an empty line, so every line would start a record; "
                "anchor it to what only a first line has, e.g. ^\\d{4}-\\d{2}-\\d{2}"
            )
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
    multiline: MultilineConfig | None = None
    # Directories a matched file (after resolving symlinks) must lie under; default: the
    # base directory of each glob, so a symlink cannot pull in a file from elsewhere.
    allowed_roots: list[Path] | None = None

    def roots(self) -> list[str]:
        """The allowed roots, resolved (symlinks in the roots themselves are fine)."""
        roots = self.allowed_roots or [Path(glob_base(p)) for p in self.paths]
        return sorted({os.path.realpath(root) for root in roots})

    @model_validator(mode="after")
    def _multiline_for_text(self) -> SourceConfig:
        if self.multiline is None:
            return self
        if self.format != "text":
            raise ValueError(
                f"multiline joins lines of a `format: text` source, not {self.format!r} "
                "(a json or docker record is one line already)"
            )
        if self.access_log is not None:
            raise ValueError("multiline and access_log exclude each other: a request is one line")
        return self

    @field_validator("labels")
    @classmethod
    def _label_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not LABEL_NAME.match(name) or name.startswith("__"):
                raise ValueError(f"label name {name!r} is not a valid Loki label name")
            if name in RESERVED_LABELS:
                raise ValueError(f"label {name!r} is set by the sidecar and cannot be static")
        return value


def glob_base(pattern: str) -> str:
    """The longest leading directory of a glob without wildcard characters."""
    parts = pattern.split(os.sep)
    fixed: list[str] = []
    for part in parts[:-1]:
        if _GLOB_MAGIC.search(part):
            break
        fixed.append(part)
    return os.sep.join(fixed) or (os.sep if pattern.startswith(os.sep) else ".")
