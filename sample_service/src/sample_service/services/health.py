"""Liveness and readiness reports in the draft-inadarei-api-health-check format."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from opentelemetry.instrumentation.utils import suppress_instrumentation
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from sample_service import __version__
from sample_service.core.cache import Cache
from sample_service.schemas.health import CheckResult, HealthReport

CHECK_TIMEOUT_SECONDS = 2.0
_STARTED = time.monotonic()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def liveness(service_name: str) -> HealthReport:
    """The process answers: no dependency is called."""
    uptime = CheckResult(
        component_type="system",
        observed_value=round(time.monotonic() - _STARTED, 3),
        observed_unit="s",
        status="pass",
        time=_now(),
    )
    return HealthReport(
        status="pass",
        version=__version__,
        service_id=service_name,
        description="liveness",
        checks={"uptime": [uptime]},
    )


async def _timed(component_type: str, probe: Callable[[], Awaitable[object]]) -> CheckResult:
    start = time.perf_counter()
    output = None
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            await probe()
        status = "pass"
    except Exception as exc:  # any failure of a dependency is a failed check, not a crash
        status, output = "fail", f"{type(exc).__name__}: {exc}"[:200]
    return CheckResult(
        component_type=component_type,
        observed_value=round((time.perf_counter() - start) * 1000, 3),
        observed_unit="ms",
        status=status,
        time=_now(),
        output=output,
    )


async def readiness(service_name: str, engine: AsyncEngine, cache: Cache) -> HealthReport:
    """The database and the cache, each probed with its response time."""

    async def ping_database() -> None:
        # Probes are not traced (see telemetry.EXCLUDED_URLS): keep their query out too,
        # or every probe would leave an orphan database span.
        with suppress_instrumentation():
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))

    database, cache_check = await asyncio.gather(
        _timed("datastore", ping_database), _timed("datastore", cache.ping)
    )
    checks = {"database:responseTime": [database], "cache:responseTime": [cache_check]}
    failed = any(result.status == "fail" for results in checks.values() for result in results)
    return HealthReport(
        status="fail" if failed else "pass",
        version=__version__,
        service_id=service_name,
        description="readiness: database and cache",
        checks=checks,
    )
