"""Access-log request lines, the request count the recorder keeps, and the source and
config the tests of sources with `access_log: {format: json}` run with."""

from __future__ import annotations

from typing import Any

import orjson

from sidecar.config import SidecarConfig


def access_line(n: int, **extra: Any) -> str:
    """The n-th request line (GET /items, 200, 10 ms), with its newline."""
    record = {
        "timestamp": f"2026-11-25T10:00:{n % 60:02d}.{n % 1000:03d}Z",
        "level": "info",
        "message": "request",
        "http_request_method": "GET",
        "http_route": "/items",
        "http_response_status_code": 200,
        "duration_seconds": 0.01,
        "padding": "x" * 300,
        **extra,
    }
    return orjson.dumps(record).decode() + "\n"


def requests_recorded(sidecar: Any) -> float:
    """How many of those requests the sidecar's access-log metrics counted."""
    value = sidecar.registry.get_sample_value(
        "http_server_request_duration_seconds_count",
        {
            "service_name": "svc",
            "telemetry_source": "access_log",
            "http_request_method": "GET",
            "http_route": "/items",
            "http_response_status_code": "200",
        },
    )
    return value or 0.0


def access_source(logs: Any) -> dict[str, Any]:
    """A source reading `logs/*.log` as request lines."""
    return {
        "name": "app",
        "service_name": "svc",
        "paths": [str(logs / "*.log")],
        "access_log": {"format": "json"},
    }


def paused_config(harness: Any, source: dict[str, Any]) -> SidecarConfig:
    """A small buffer and one push in flight: with Loki down, shipping pauses on the full
    buffer after a few chunks while the access-log read-ahead goes on recording."""
    return harness.config(  # type: ignore[no-any-return]
        sources=[source],
        shipping={"buffer_max_bytes": 64 * 1024, "read_chunk_bytes": 16 * 1024},
        loki={"batch_max_bytes": 16 * 1024, "max_in_flight": 1},
    )
