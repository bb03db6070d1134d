"""HealthMonitor: concurrent loops, GET /health from memory, and the sidecar_health_* metrics."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from sidecar.health import monitor as monitor_module
from sidecar.health.config import HealthConfig
from sidecar.health.monitor import HealthMonitor
from starlette.applications import Starlette

from tests.support.eventually import eventually


def _monitor(
    checks: list[dict[str, Any]], registry: CollectorRegistry | None = None
) -> HealthMonitor:
    filled = [{"kind": "http", "service_name": "svc", "failure_threshold": 1} | c for c in checks]
    return HealthMonitor(
        HealthConfig.model_validate({"checks": filled}), registry or CollectorRegistry()
    )


async def _get_health(monitor: HealthMonitor) -> httpx.Response:
    app = Starlette(routes=monitor.routes())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sidecar"
    ) as client:
        return await client.get("/health")


async def test_pending_checks_make_a_warn_answer() -> None:
    response = await _get_health(_monitor([{"name": "a", "url": "http://127.0.0.1:1/"}]))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/health+json"
    body = response.json()
    assert body["status"] == "warn"
    (entry,) = body["checks"]["a"]
    assert (entry["status"], entry["output"]) == ("warn", "not checked yet")


async def test_no_checks_pass() -> None:
    response = await _get_health(_monitor([]))
    assert (response.status_code, response.json()["status"], response.json()["checks"]) == (
        200,
        "pass",
        {},
    )


async def test_aggregate_pass_warn_fail(target: Any) -> None:
    monitor = _monitor(
        [
            {"name": "core", "url": target.answer("/core")},
            {"name": "extra", "url": target.answer("/extra", status=500), "critical": False},
        ]
    )
    await monitor.check_once("core")
    await monitor.check_once("extra")
    response = await _get_health(monitor)
    assert (response.status_code, response.json()["status"]) == (200, "warn")

    target.answer("/extra")
    await monitor.check_once("extra")
    response = await _get_health(monitor)
    assert (response.status_code, response.json()["status"]) == (200, "pass")

    target.answer("/core", status=503)
    await monitor.check_once("core")
    response = await _get_health(monitor)
    assert (response.status_code, response.json()["status"]) == (503, "fail")


async def test_entry_fields(target: Any) -> None:
    monitor = _monitor([{"name": "core", "service_name": "orders", "url": target.answer("/h")}])
    await monitor.check_once("core")
    target.answer("/h", status=500)
    state = await monitor.check_once("core")
    (entry,) = (await _get_health(monitor)).json()["checks"]["core"]
    assert entry["componentId"] == "orders"
    assert entry["componentType"] == "http"
    assert entry["status"] == "fail"
    assert entry["critical"] is True
    assert entry["output"] == entry["lastError"] == "HTTP 500, expected 2xx"
    assert entry["observedUnit"] == "s"
    assert entry["observedValue"] == round(state.last_duration, 6)
    assert entry["statusSince"] == entry["time"] == entry["lastErrorTime"]
    assert entry["statusSince"].endswith("Z")

    target.answer("/h")
    await monitor.check_once("core")
    (entry,) = (await _get_health(monitor)).json()["checks"]["core"]
    assert "output" not in entry  # the draft omits output for pass
    assert entry["lastError"] == "HTTP 500, expected 2xx"


async def test_sub_checks_carried_through(target: Any) -> None:
    sub = {"db:ping": [{"status": "warn", "output": "slow"}]}
    url = target.answer(
        "/h",
        body=b'{"status":"warn","checks":{"db:ping":[{"status":"warn","output":"slow"}]}}',
        content_type="application/health+json",
    )
    monitor = _monitor([{"name": "svc", "url": url}])
    await monitor.check_once("svc")
    body = (await _get_health(monitor)).json()
    assert body["status"] == "warn"
    assert body["checks"]["svc"][0]["checks"] == sub


async def test_health_is_served_from_memory(target: Any) -> None:
    monitor = _monitor([{"name": "a", "url": target.answer("/h")}])
    await monitor.check_once("a")
    before = target.count("/h")
    for _ in range(3):
        assert (await _get_health(monitor)).json()["status"] == "pass"
    assert target.count("/h") == before == 1


async def test_hanging_target_delays_neither_other_checks_nor_health(target: Any) -> None:
    hanging = [
        {
            "name": f"hang{i}",
            "url": target.answer(f"/hang{i}", hang=True),
            "timeout_seconds": 2,
            "interval_seconds": 30,
        }
        for i in range(5)
    ]
    fast = {
        "name": "fast",
        "url": target.answer("/fast"),
        "interval_seconds": 0.05,
        "timeout_seconds": 0.05,
    }
    monitor = _monitor([*hanging, fast])
    runner = asyncio.create_task(monitor.run())
    try:
        await eventually(lambda: target.count("/fast") >= 5)
        # The fast check has run five times while every hanging check's first run is open.
        assert all(target.count(f"/hang{i}") == 1 for i in range(5))
        assert all(monitor.state(f"hang{i}").pending for i in range(5))
        assert monitor.running
        body = (await _get_health(monitor)).json()
        assert body["checks"]["fast"][0]["status"] == "pass"
        assert body["checks"]["hang0"][0]["output"] == "not checked yet"

        await eventually(lambda: not monitor.state("hang4").pending)
        assert monitor.state("hang4").output == "timed out after 2 s"
        response = await _get_health(monitor)
        assert (response.status_code, response.json()["status"]) == (503, "fail")
    finally:
        runner.cancel()
        with pytest.raises(asyncio.CancelledError):
            await runner
    assert not monitor.running


async def test_run_with_no_checks_runs_until_cancelled() -> None:
    monitor = _monitor([])
    runner = asyncio.create_task(monitor.run())
    await eventually(lambda: monitor.running)
    assert not runner.done()
    runner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await runner


async def test_a_crashing_probe_fails_its_check_only(
    target: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_probe = monitor_module.run_probe

    async def probe(http: Any, check: Any) -> Any:
        if check.name == "buggy":
            raise RuntimeError("bug")
        return await real_probe(http, check)

    monkeypatch.setattr(monitor_module, "run_probe", probe)
    monitor = _monitor(
        [
            {
                "name": "buggy",
                "url": target.answer("/a"),
                "interval_seconds": 0.05,
                "timeout_seconds": 0.05,
            },
            {
                "name": "fine",
                "url": target.answer("/b"),
                "interval_seconds": 0.05,
                "timeout_seconds": 0.05,
            },
        ]
    )
    runner = asyncio.create_task(monitor.run())
    try:
        await eventually(lambda: target.count("/b") >= 3)
        assert monitor.state("buggy").output == "internal error in the check: RuntimeError('bug')"
        assert monitor.state("fine").status == "pass"
        assert not runner.done()
    finally:
        runner.cancel()
        with pytest.raises(asyncio.CancelledError):
            await runner


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


async def test_metrics(target: Any) -> None:
    registry = CollectorRegistry()
    monitor = _monitor(
        [
            {"name": "a-core", "service_name": "svc-a", "url": target.answer("/a")},
            {
                "name": "a-extra",
                "service_name": "svc-a",
                "url": target.answer("/x", status=500),
                "critical": False,
            },
            {"name": "b-core", "service_name": "svc-b", "url": target.answer("/b")},
        ],
        registry,
    )
    # Before any run: pending is warn and not up.
    up = "sidecar_health_check_up"
    core, extra = {"check": "a-core", "critical": "true"}, {"check": "a-extra", "critical": "false"}
    assert _value(registry, up, service_name="svc-a", **core) == 0
    assert (
        _value(
            registry,
            "sidecar_health_check_status",
            service_name="svc-a",
            check="a-core",
            status="warn",
        )
        == 1
    )
    for name in ("a-core", "a-extra", "b-core"):
        await monitor.check_once(name)

    def status(check: str, service: str) -> dict[str, float | None]:
        return {
            s: _value(
                registry, "sidecar_health_check_status", service_name=service, check=check, status=s
            )
            for s in ("pass", "warn", "fail")
        }

    def aggregate(service: str) -> dict[str, float | None]:
        return {
            s: _value(registry, "sidecar_health_status", service_name=service, status=s)
            for s in ("pass", "warn", "fail")
        }

    assert status("a-core", "svc-a") == {"pass": 1, "warn": 0, "fail": 0}
    assert status("a-extra", "svc-a") == {"pass": 0, "warn": 0, "fail": 1}
    assert _value(registry, up, service_name="svc-a", **core) == 1
    assert _value(registry, up, service_name="svc-a", **extra) == 0
    assert (
        _value(
            registry, "sidecar_health_check_duration_seconds", service_name="svc-b", check="b-core"
        )
        == monitor.state("b-core").last_duration
    )
    assert aggregate("svc-a") == {"pass": 0, "warn": 1, "fail": 0}
    assert aggregate("svc-b") == {"pass": 1, "warn": 0, "fail": 0}

    registry_text = generate_latest(registry).decode()
    assert 'sidecar_health_status{service_name="svc-b",status="pass"} 1.0' in registry_text
    target.answer("/b", status=503)
    await monitor.check_once("b-core")
    assert aggregate("svc-b") == {"pass": 0, "warn": 0, "fail": 1}
    assert aggregate("svc-a") == {"pass": 0, "warn": 1, "fail": 0}


async def test_reconfigure_keeps_unchanged_checks_and_their_state(target: Any) -> None:
    registry = CollectorRegistry()
    fast = {"interval_seconds": 0.1, "timeout_seconds": 0.1}
    kept_check = {
        "name": "kept",
        "url": target.answer("/kept", status=500),
        "failure_threshold": 50,
    }
    checks = [
        kept_check,
        {"name": "removed", "url": target.answer("/r")},
        {"name": "changed", "url": target.answer("/c")},
    ]
    monitor = _monitor([fast | c for c in checks], registry)
    runner = asyncio.create_task(monitor.run())
    try:
        kept = monitor.state("kept")
        await eventually(lambda: kept.consecutive_failures >= 2 and target.count("/r") >= 2)
        new = [
            kept_check,
            {"name": "changed", "url": target.answer("/c2")},
            {"name": "added", "url": target.answer("/a"), "service_name": "other"},
        ]
        filled = [
            {"kind": "http", "service_name": "svc", "failure_threshold": 1} | fast | c for c in new
        ]
        await monitor.reconfigure(HealthConfig.model_validate({"checks": filled}))
        removed_runs = target.count("/r")

        # The unchanged check is the same state: its flap counters go on from where they were.
        assert monitor.state("kept") is kept
        failures = kept.consecutive_failures
        await eventually(lambda: kept.consecutive_failures > failures)
        # New and changed checks run; the removed one's loop stopped (at most a run in flight).
        await eventually(lambda: target.count("/a") >= 5 and target.count("/c2") >= 5)
        assert target.count("/r") <= removed_runs + 1
        with pytest.raises(KeyError):
            monitor.state("removed")
        body = (await _get_health(monitor)).json()
        assert set(body["checks"]) == {"kept", "changed", "added"}
        text = generate_latest(registry).decode()
        assert 'check="removed"' not in text
        assert 'sidecar_health_status{service_name="other",status="pass"} 1.0' in text
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
