"""The `health:` section of the sidecar config: which checks to run and how to judge them."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sidecar.health.jsonpath import parse_json_path

_STATUS_CLASS = re.compile(r"^([1-5])xx$")
_HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class _CheckBase(BaseModel):
    """What every check has, whatever it probes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.:\-/]+$")]
    service_name: Annotated[str, Field(min_length=1)]
    interval_seconds: Annotated[float, Field(gt=0, description="seconds between two runs")] = 10.0
    timeout_seconds: Annotated[float, Field(gt=0, description="seconds one run may take")] = 2.0
    # Consecutive results needed before the published status flips (flap suppression).
    failure_threshold: Annotated[int, Field(ge=1)] = 3
    success_threshold: Annotated[int, Field(ge=1)] = 1
    critical: bool = True

    @model_validator(mode="after")
    def _timeout_within_interval(self) -> _CheckBase:
        if self.timeout_seconds > self.interval_seconds:
            raise ValueError(
                f"timeout_seconds ({self.timeout_seconds}) must not exceed "
                f"interval_seconds ({self.interval_seconds}): "
                "a run would still be going when the next one is due"
            )
        return self


class HttpCheck(_CheckBase):
    """An HTTP request whose status, and optionally one JSON value, decide the result."""

    kind: Literal["http"]
    method: str = "GET"
    url: str
    # Accepted statuses: exact codes (204) or classes ("2xx").
    expected_status: Annotated[list[int | str], Field(min_length=1)] = ["2xx"]
    headers: dict[str, str] = {}
    json_path: str | None = None
    expected_value: Any = None

    @field_validator("method")
    @classmethod
    def _known_method(cls, value: str) -> str:
        method = value.upper()
        if method not in _HTTP_METHODS:
            raise ValueError(f"unsupported method {value!r}; use one of {sorted(_HTTP_METHODS)}")
        return method

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        try:
            url = httpx.URL(value)
        except httpx.InvalidURL as exc:
            raise ValueError(f"not a URL: {exc}") from exc
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"{value!r} is not an absolute http:// or https:// URL")
        return value

    @field_validator("expected_status")
    @classmethod
    def _statuses(cls, values: list[int | str]) -> list[int | str]:
        for value in values:
            if isinstance(value, int):
                if not 100 <= value <= 599:
                    raise ValueError(f"{value} is not an HTTP status (100-599)")
            elif _STATUS_CLASS.match(value) is None:
                raise ValueError(f"{value!r} is neither a status code nor a class like '2xx'")
        return values

    @field_validator("json_path")
    @classmethod
    def _json_path(cls, value: str | None) -> str | None:
        if value is not None:
            parse_json_path(value)
        return value

    @model_validator(mode="after")
    def _value_needs_path(self) -> HttpCheck:
        if self.expected_value is not None and self.json_path is None:
            raise ValueError("expected_value is set but json_path is not")
        if self.json_path is not None and "expected_value" not in self.model_fields_set:
            raise ValueError(f"json_path {self.json_path!r} needs an expected_value")
        return self

    def accepts(self, status_code: int) -> bool:
        """Whether `status_code` is one of the expected statuses."""
        for expected in self.expected_status:
            if isinstance(expected, int):
                if expected == status_code:
                    return True
            elif status_code // 100 == int(expected[0]):
                return True
        return False


class TcpCheck(_CheckBase):
    """A TCP connect: passing means the port accepted a connection within the timeout."""

    kind: Literal["tcp"]
    host: Annotated[str, Field(min_length=1)]
    port: Annotated[int, Field(ge=1, le=65535)]


Check = Annotated[HttpCheck | TcpCheck, Field(discriminator="kind")]


class HealthConfig(BaseModel):
    """Health checks of the watched services. No checks by default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    checks: list[Check] = []

    @field_validator("checks")
    @classmethod
    def _unique_names(cls, checks: list[HttpCheck | TcpCheck]) -> list[HttpCheck | TcpCheck]:
        seen: set[str] = set()
        for check in checks:
            if check.name in seen:
                raise ValueError(f"two checks are named {check.name!r}; names must be unique")
            seen.add(check.name)
        return checks
