"""Liveness and readiness reports in the draft-inadarei-api-health-check format.

Readiness fails (503) when the database does; the cache is an optimisation the service
serves without (core/cache.py), so a failing cache makes it `warn` (200). A failed check's
`output` names the error's type only: its message can carry internal addresses.
"""

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
from sample_service.schemas.health import CheckResult, HealthReport, HealthStatus

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


async def _timed(
    component_type: str, probe: Callable[[], Awaitable[object]], failing: HealthStatus
) -> CheckResult:
    start = time.perf_counter()
    output = None
    status: HealthStatus = "pass"
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            await probe()
    except Exception as exc:  # any failure of a dependency is a failed check, not a crash
        status, output = failing, f"{type(exc).__name__}"
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
        # Probes are not traced (see request_middleware.UNTRACED_PATHS): keep their query
        # out too, or every probe would leave an orphan database span.
        with suppress_instrumentation():
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))

    database, cache_check = await asyncio.gather(
        _timed("datastore", ping_database, failing="fail"),
        _timed("datastore", cache.ping, failing="warn"),
    )
    checks = {"database:responseTime": [database], "cache:responseTime": [cache_check]}
    statuses = {result.status for results in checks.values() for result in results}
    overall: HealthStatus = (
        "fail" if "fail" in statuses else "warn" if "warn" in statuses else "pass"
    )
    return HealthReport(
        status=overall,
        version=__version__,
        service_id=service_name,
        description="readiness: database (required) and cache (optional)",
        checks=checks,
    )
