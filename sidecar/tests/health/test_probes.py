"""One run of a check against real loopback targets: how each outcome is judged and explained."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry
from sidecar.health.config import HealthConfig
from sidecar.health.monitor import HealthMonitor

from tests.support import free_port

HEALTH_JSON = "application/health+json"


def _monitor(*checks: dict[str, Any]) -> HealthMonitor:
    filled = [
        {"service_name": "svc", "failure_threshold": 1, "interval_seconds": 5, "timeout_seconds": 2}
        | check
        for check in checks
    ]
    return HealthMonitor(HealthConfig.model_validate({"checks": filled}), CollectorRegistry())


async def _run(check: dict[str, Any]) -> Any:
    return await _monitor({"name": "c"} | check).check_once("c")


async def test_200_passes(target: Any) -> None:
    state = await _run({"kind": "http", "url": target.answer("/h")})
    assert (state.status, state.output) == ("pass", None)
    assert state.last_duration is not None
    assert state.last_duration > 0


async def test_unexpected_status_fails_with_reason(target: Any) -> None:
    state = await _run({"kind": "http", "url": target.answer("/h", status=500)})
    assert state.status == "fail"
    assert state.output == "HTTP 500, expected 2xx"


async def test_expected_status_set(target: Any) -> None:
    url = target.answer("/h", status=418)
    assert (await _run({"kind": "http", "url": url, "expected_status": [200, 418]})).status == (
        "pass"
    )


async def test_method_and_headers_are_sent(target: Any) -> None:
    url = target.answer("/h")
    await _run({"kind": "http", "url": url, "method": "head", "headers": {"X-Probe": "yes"}})
    (request,) = target.requests
    assert (request.method, request.headers["x-probe"]) == ("HEAD", "yes")


async def test_check_headers_override_the_defaults(target: Any) -> None:
    url = target.answer("/h")
    await _run({"kind": "http", "url": url, "headers": {"user-agent": "probe/1"}})
    (request,) = target.requests
    assert (request.headers["user-agent"], request.headers["host"]) == (
        "probe/1",
        f"127.0.0.1:{target.port}",
    )


async def test_every_run_opens_a_fresh_connection(target: Any) -> None:
    # The target keeps connections alive and the checks ask for it too, so a probe
    # reusing a pooled connection would not be counted.
    keep_alive = {"kind": "http", "headers": {"Connection": "keep-alive"}}
    monitor = _monitor(
        {"name": "a", "url": target.answer("/a")} | keep_alive,
        {"name": "b", "url": target.answer("/b")} | keep_alive,
    )
    for name in ("a", "b", "a", "a"):
        assert (await monitor.check_once(name)).status == "pass"
    assert (target.count("/a"), target.count("/b"), target.connections) == (3, 1, 4)


@pytest.mark.parametrize(
    ("body", "expected", "status", "output"),
    [
        (b'{"db": {"state": "up"}}', "up", "pass", None),
        (b'{"db": {"state": "down"}}', "up", "fail", "$.db.state is 'down', expected 'up'"),
        (b'{"db": {}}', "up", "fail", "$.db.state not found in body: no 'state' at step 2"),
        (b'{"db": {"state": true}}', 1, "fail", "$.db.state is True, expected 1"),
        (b"<html>", "up", "fail", "body is not JSON, so $.db.state cannot be read"),
    ],
)
async def test_json_path(target: Any, body: bytes, expected: Any, status: str, output: str) -> None:
    url = target.answer("/h", body=body, content_type="application/json")
    state = await _run(
        {"kind": "http", "url": url, "json_path": "$.db.state", "expected_value": expected}
    )
    assert state.status == status
    assert (state.output or "").startswith(output) if output else state.output is None


async def test_timeout_enforced_on_hanging_target(target: Any) -> None:
    url = target.answer("/h", hang=True)
    state = await asyncio.wait_for(_run({"kind": "http", "url": url, "timeout_seconds": 0.3}), 10)
    assert (state.status, state.output) == ("fail", "timed out after 0.3 s")
    assert state.last_duration is not None


async def test_slow_answer_within_timeout_passes(target: Any) -> None:
    url = target.answer("/h", delay=0.2)
    assert (await _run({"kind": "http", "url": url, "timeout_seconds": 3})).status == "pass"


async def test_connection_refused() -> None:
    port = free_port()
    http = await _run({"kind": "http", "url": f"http://127.0.0.1:{port}/h"})
    tcp = await _run({"kind": "tcp", "host": "127.0.0.1", "port": port})
    assert http.output == tcp.output == f"connection refused by 127.0.0.1:{port}"
    assert http.status == tcp.status == "fail"


async def test_dns_failure() -> None:
    http = await _run(
        {"kind": "http", "url": "http://no-such-host.invalid/h", "timeout_seconds": 5}
    )
    tcp = await _run(
        {"kind": "tcp", "host": "no-such-host.invalid", "port": 80, "timeout_seconds": 5}
    )
    for state in (http, tcp):
        assert state.status == "fail"
        assert state.output.startswith("DNS lookup failed for no-such-host.invalid:")


async def test_tcp_connect_passes(target: Any) -> None:
    state = await _run({"kind": "tcp", "host": "127.0.0.1", "port": target.port})
    assert (state.status, state.output) == ("pass", None)


def _health_body(status: str, **extra: Any) -> bytes:
    return orjson.dumps({"status": status, **extra})


async def test_health_json_warn_carries_status_and_sub_checks(target: Any) -> None:
    sub = {"db:responseTime": [{"status": "warn", "observedValue": 900, "observedUnit": "ms"}]}
    body = _health_body("warn", output="db slow", checks=sub)
    state = await _run(
        {"kind": "http", "url": target.answer("/h", body=body, content_type=HEALTH_JSON)}
    )
    assert (state.status, state.output) == ("warn", "target reports warn: db slow")
    assert state.sub_checks == sub


async def test_health_json_fail_with_503(target: Any) -> None:
    sub = {"db:connections": [{"status": "fail", "output": "refused"}]}
    body = _health_body("fail", checks=sub)
    url = target.answer("/h", status=503, body=body, content_type=f"{HEALTH_JSON}; charset=utf-8")
    state = await _run({"kind": "http", "url": url})
    assert state.status == "fail"
    assert state.output == "HTTP 503, expected 2xx (target reports fail)"
    assert state.sub_checks == sub


async def test_health_json_fail_with_200_still_fails(target: Any) -> None:
    body = _health_body("down")  # Spring Boot's alias
    state = await _run(
        {"kind": "http", "url": target.answer("/h", body=body, content_type=HEALTH_JSON)}
    )
    assert (state.status, state.output) == ("fail", "target reports fail")


async def test_health_json_alias_up_passes(target: Any) -> None:
    body = _health_body("UP")
    url = target.answer("/h", body=body, content_type=HEALTH_JSON)
    assert (await _run({"kind": "http", "url": url})).status == "pass"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "body is not JSON"),
        (b"[1, 2]", "body is a JSON list, not an object"),
        (b'{"checks": {}}', "'status' is None; expected pass, warn or fail"),
        (b'{"status": "great"}', "'status' is 'great'; expected pass, warn or fail"),
        (b'{"status": "pass", "checks": {"db": {"status": "pass"}}}', "'checks' must map"),
        (b"", "body is not JSON"),
    ],
)
async def test_malformed_health_json_is_a_failing_check(
    target: Any, body: bytes, reason: str
) -> None:
    url = target.answer("/h", body=body, content_type=HEALTH_JSON)
    state = await _run({"kind": "http", "url": url})
    assert state.status == "fail"
    assert state.output.startswith(f"malformed application/health+json: {reason}")


async def test_oversized_body_fails(target: Any) -> None:
    url = target.answer("/h", body=b"x" * (1024 * 1024 + 1))
    state = await _run({"kind": "http", "url": url})
    assert (state.status, state.output) == ("fail", "body larger than 1048576 bytes")
