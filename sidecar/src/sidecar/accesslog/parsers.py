"""Turning one access-log line into a request: JSON records or NCSA combined + request time."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sidecar import telemetry_contract as contract

# Common or combined log format, then the request time as the last field, as nginx writes
# with `log_format timed '$remote_addr - $remote_user [$time_local] "$request" $status
# $body_bytes_sent "$http_referer" "$http_user_agent" $request_time'`.
_QUOTED = r'"(?:[^"\\]|\\.)*"'
_COMBINED = re.compile(
    r"^\S+ \S+ \S+ \[[^\]]*\] "
    r'"(?P<method>[A-Za-z]+) (?P<target>\S+)(?: [^"]*)?" '
    r"(?P<status>\d{3}) \S+"
    rf"(?: {_QUOTED} {_QUOTED})?"
    r"(?:\s+(?P<request_time>\S+))?\s*$"
)

UNIT_FACTORS = {"seconds": 1.0, "milliseconds": 1e-3, "microseconds": 1e-6}

NOT_JSON = "not_json"
NOT_COMBINED = "format"
MISSING_FIELD = "missing_field"
INVALID_VALUE = "invalid_value"
# The reasons each access-log format's parser can give.
UNPARSED_REASONS = {
    "json": (NOT_JSON, MISSING_FIELD, INVALID_VALUE),
    "combined": (NOT_COMBINED, MISSING_FIELD, INVALID_VALUE),
}


class UnparsedLine(ValueError):
    """A line that should be a request but is not; `reason` becomes a metric label."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


# Status codes outside 100-599 are recorded under this one value.
OTHER_STATUS = contract.OTHER_STATUS


@dataclass(frozen=True)
class Request:
    method: str
    status_code: str  # "100".."599" or OTHER_STATUS
    duration_seconds: float
    route: str | None  # the service's own template, when it logged one
    target: str | None  # the raw path, to be mapped to a template


def parse_json_record(record: Mapping[str, Any] | None) -> Request | None:
    """The request in an access record (contract/README.md), or None for a non-access record."""
    if record is None:
        raise UnparsedLine(NOT_JSON, "the line is not a JSON object")
    method = record.get("http_request_method")
    status = record.get("http_response_status_code")
    if method is None and status is None:
        return None
    route = record.get("http_route") or None
    target = record.get("url_path") or None
    duration = record.get("duration_seconds")
    missing = [
        name
        for name, value in (
            ("http_request_method", method),
            ("http_response_status_code", status),
            ("duration_seconds", duration),
            ("http_route or url_path", route or target),
        )
        if value is None
    ]
    if missing:
        raise UnparsedLine(MISSING_FIELD, f"access record without {', '.join(missing)}")
    if not isinstance(method, str) or not isinstance(route or target, str):
        raise UnparsedLine(INVALID_VALUE, "http_request_method and the route must be strings")
    return Request(method, _status(status), _duration(duration, 1.0), route, target)


def parse_combined_line(line: str, unit: str) -> Request:
    """The request in a common/combined log line with the request time appended."""
    match = _COMBINED.match(line)
    if match is None:
        raise UnparsedLine(NOT_COMBINED, "not a common/combined log line")
    if match["request_time"] is None:
        raise UnparsedLine(MISSING_FIELD, "no request time after the combined fields")
    return Request(
        match["method"],
        _status(match["status"]),
        _duration(match["request_time"], UNIT_FACTORS[unit]),
        None,
        match["target"],
    )


def _status(value: Any) -> str:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise UnparsedLine(INVALID_VALUE, f"status code {value!r} is not a number")
    return str(value) if 100 <= value <= 599 else OTHER_STATUS


def _duration(value: Any, factor: float) -> float:
    try:
        seconds = float(value) * factor
    except (TypeError, ValueError):
        seconds = math.nan
    if isinstance(value, bool) or not math.isfinite(seconds) or seconds < 0:
        raise UnparsedLine(INVALID_VALUE, f"request time {value!r} is not a duration")
    return seconds
