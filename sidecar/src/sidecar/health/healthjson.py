"""Reading a target's application/health+json body (draft-inadarei-api-health-check)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson

from sidecar import telemetry_contract as contract

Status = Literal["pass", "warn", "fail"]

MEDIA_TYPE = contract.HEALTH_MEDIA_TYPE

# The draft accepts these aliases for the libraries that predate it (Terminus, Spring Boot).
_STATUS_ALIASES: dict[str, Status] = {
    "pass": "pass",
    "ok": "pass",
    "up": "pass",
    "warn": "warn",
    "fail": "fail",
    "error": "fail",
    "down": "fail",
}


class MalformedHealthBody(ValueError):
    """The body claims to be application/health+json but is not."""


@dataclass(frozen=True)
class HealthBody:
    """The parts of a target's health answer that the sidecar carries through."""

    status: Status
    output: str | None
    checks: dict[str, list[dict[str, Any]]]
    document: dict[str, Any]


def is_health_json(content_type: str | None) -> bool:
    """Whether a Content-Type header names application/health+json (parameters ignored)."""
    if not content_type:
        return False
    return content_type.split(";", 1)[0].strip().lower() == MEDIA_TYPE


def parse_health_body(body: bytes) -> HealthBody:
    """The status and sub-checks of `body`; MalformedHealthBody says what is wrong."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedHealthBody(f"body is not JSON ({exc})") from exc
    if not isinstance(document, dict):
        raise MalformedHealthBody(f"body is a JSON {type(document).__name__}, not an object")
    raw_status = document.get("status")
    status = _STATUS_ALIASES.get(raw_status.lower()) if isinstance(raw_status, str) else None
    if status is None:
        raise MalformedHealthBody(f"'status' is {raw_status!r}; expected pass, warn or fail")
    checks = document.get("checks", {})
    if not isinstance(checks, dict) or not all(
        isinstance(entries, list) and all(isinstance(entry, dict) for entry in entries)
        for entries in checks.values()
    ):
        raise MalformedHealthBody("'checks' must map names to arrays of objects")
    output = document.get("output")
    return HealthBody(
        status=status,
        output=output if isinstance(output, str) else None,
        checks=checks,
        document=document,
    )
