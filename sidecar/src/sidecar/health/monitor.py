"""Runs every health check on the current event loop and serves GET /health from memory."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import orjson
from prometheus_client import CollectorRegistry
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sidecar.health.config import HealthConfig, HttpCheck, TcpCheck
from sidecar.health.healthjson import MEDIA_TYPE
from sidecar.health.metrics import HealthMetrics, aggregate_status
from sidecar.health.probes import ProbeResult, run_probe
from sidecar.health.report import render
from sidecar.health.state import CheckState

logger = logging.getLogger(__name__)

# Checks start this far apart (at most), so a thousand of them do not all fire in
# the same instant and stall the loop that also answers /health.
MAX_START_SPACING = 0.01


class HealthMonitor:
    """Owns the check loops, their state, and the sidecar_health_* metrics."""

    def __init__(self, config: HealthConfig, registry: CollectorRegistry) -> None:
        now = time.time()
        self._states = {check.name: CheckState(check, since=now) for check in config.checks}
        self._by_service: dict[str, list[CheckState]] = defaultdict(list)
        for state in self._states.values():
            self._by_service[state.check.service_name].append(state)
        self._metrics = HealthMetrics(registry)
        for state in self._states.values():
            self._metrics.publish_check(state)
        for service_name, states in self._by_service.items():
            self._metrics.publish_service(service_name, aggregate_status(states))
        self._client: httpx.AsyncClient | None = None
        self._running = False

    @property
    def running(self) -> bool:
        """True while run() has its check loops going (for the sidecar's readiness)."""
        return self._running

    def state(self, name: str) -> CheckState:
        return self._states[name]

    async def run(self) -> None:
        """Run all checks concurrently until cancelled."""
        async with _http_client(len(self._states)) as client:
            self._client = client
            try:
                async with asyncio.TaskGroup() as group:
                    count = len(self._states)
                    for index, state in enumerate(self._states.values()):
                        delay = index * min(state.check.interval_seconds / count, MAX_START_SPACING)
                        group.create_task(
                            self._repeat(state, delay), name=f"health-check {state.check.name}"
                        )
                    self._running = True
                    await asyncio.Event().wait()
            finally:
                self._running = False
                self._client = None

    async def check_once(self, name: str) -> CheckState:
        """Run one check now and publish its result (tests and manual probes)."""
        state = self._states[name]
        if self._client is not None:
            await self._run_check(self._client, state)
        else:
            async with _http_client(1) as client:
                await self._run_check(client, state)
        return state

    def report(self) -> tuple[int, dict[str, object]]:
        """The /health status code and body, from memory."""
        return render(self._states.values())

    def routes(self) -> list[BaseRoute]:
        return [Route("/health", self._health_endpoint, methods=["GET"])]

    async def _health_endpoint(self, request: Request) -> Response:
        status_code, body = self.report()
        return Response(
            orjson.dumps(body),
            status_code=status_code,
            media_type=MEDIA_TYPE,
            headers={"Cache-Control": "no-store"},
        )

    async def _repeat(self, state: CheckState, delay: float) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(delay)
        due = loop.time()
        assert self._client is not None
        while True:
            await self._run_check(self._client, state)
            due += state.check.interval_seconds
            # A run that overran (suspended machine, overloaded loop) skips the missed
            # slots instead of firing them back to back.
            due = max(due, loop.time())
            await asyncio.sleep(due - loop.time())

    async def _run_check(self, client: httpx.AsyncClient, state: CheckState) -> None:
        try:
            result = await run_probe(client, state.check)
        except Exception as exc:
            # A bug in a probe must not take the other checks down with it.
            logger.exception("health check %s crashed", state.check.name)
            result = ProbeResult("fail", 0.0, f"internal error in the check: {exc!r}")
        self._apply(state, result)

    def _apply(self, state: CheckState, result: ProbeResult) -> None:
        before = state.status
        changed = state.record(result, time.time())
        self._metrics.publish_check(state)
        if changed:
            service = state.check.service_name
            self._metrics.publish_service(service, aggregate_status(self._by_service[service]))
            if before != state.status:
                logger.log(
                    logging.WARNING if state.status == "fail" else logging.INFO,
                    "health check %s is now %s",
                    state.check.name,
                    state.status,
                    extra={
                        "service_name": service,
                        "check": state.check.name,
                        "reason": state.output,
                    },
                )


@asynccontextmanager
async def _http_client(checks: int) -> AsyncIterator[httpx.AsyncClient]:
    # No connection cap: a pool limit would queue healthy checks behind hanging ones.
    # trust_env off: a proxy from the environment must not sit between a probe and its target.
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=max(checks, 1))
    async with httpx.AsyncClient(limits=limits, trust_env=False) as client:
        yield client


__all__ = ["HealthConfig", "HealthMonitor", "HttpCheck", "TcpCheck"]
