"""Runs every health check on the current event loop and serves GET /health from memory."""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import ssl
import time
from collections import defaultdict

import httpx
from prometheus_client import CollectorRegistry
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sidecar.health.config import HealthConfig, HttpCheck
from sidecar.health.healthjson import MEDIA_TYPE
from sidecar.health.metrics import HealthCollector
from sidecar.health.probes import HttpTarget, ProbeResult, build_request, run_probe
from sidecar.health.report import render
from sidecar.health.state import CheckState

logger = logging.getLogger(__name__)

# Checks start spread over their interval, at most this far apart, so a thousand of
# them do not all fire in the same instant and stall the loop that answers /health...
MAX_START_SPACING = 0.01
# ...but in batches on this grid: probes that run together share the loop's wake-ups,
# which roughly halves the CPU per probe compared with each starting on its own tick,
# while a batch (~10 probes at 1,000 checks per 10 s) is too small to hold up /health.
START_GRID = 0.1
# HTTP checks share an httpx transport in groups of this size. httpcore's pool scans all its
# connections and queued requests on every request, so one pool for a thousand checks
# (dozens of them hanging) grows quadratically costly; a transport per check instead adds
# ~22 objects per check that every full GC pass must walk, stalling the loop.
CHECKS_PER_TRANSPORT = 25


class HealthMonitor:
    """Owns the check loops, their state, and the sidecar_health_* metrics."""

    def __init__(self, config: HealthConfig, registry: CollectorRegistry) -> None:
        now = time.time()
        self._states = {check.name: CheckState(check, since=now) for check in config.checks}
        by_service: dict[str, list[CheckState]] = defaultdict(list)
        for state in self._states.values():
            by_service[state.check.service_name].append(state)
        registry.register(HealthCollector(dict(by_service)))
        http_states = [s for s in self._states.values() if isinstance(s.check, HttpCheck)]
        self._transports: list[httpx.AsyncHTTPTransport] = []
        self._http: dict[str, HttpTarget] = {}
        for start in range(0, len(http_states), CHECKS_PER_TRANSPORT):
            transport = _http_transport(_tls_context())
            self._transports.append(transport)
            for state in http_states[start : start + CHECKS_PER_TRANSPORT]:
                assert isinstance(state.check, HttpCheck)
                self._http[state.check.name] = HttpTarget(transport, build_request(state.check))
        self._running = False

    @property
    def running(self) -> bool:
        """True while run() has its check loops going (for the sidecar's readiness)."""
        return self._running

    def state(self, name: str) -> CheckState:
        return self._states[name]

    async def run(self) -> None:
        """Run all checks concurrently until cancelled (once per monitor: it then closes)."""
        try:
            async with asyncio.TaskGroup() as group:
                count = len(self._states)
                for index, state in enumerate(self._states.values()):
                    spacing = min(state.check.interval_seconds / count, MAX_START_SPACING)
                    delay = math.floor(index * spacing / START_GRID) * START_GRID
                    group.create_task(
                        self._repeat(state, delay), name=f"health-check {state.check.name}"
                    )
                self._running = True
                await asyncio.Event().wait()
        finally:
            self._running = False
            for transport in self._transports:
                await transport.aclose()

    async def check_once(self, name: str) -> CheckState:
        """Run one check now and publish its result (tests and manual probes)."""
        state = self._states[name]
        await self._run_check(self._http.get(name), state)
        return state

    def report(self) -> tuple[int, bytes]:
        """The /health status code and JSON body, from memory."""
        return render(self._states.values())

    def routes(self) -> list[BaseRoute]:
        return [Route("/health", self._health_endpoint, methods=["GET"])]

    async def _health_endpoint(self, request: Request) -> Response:
        status_code, body = self.report()
        return Response(
            body,
            status_code=status_code,
            media_type=MEDIA_TYPE,
            headers={"Cache-Control": "no-store"},
        )

    async def _repeat(self, state: CheckState, delay: float) -> None:
        loop = asyncio.get_running_loop()
        http = self._http.get(state.check.name)
        await asyncio.sleep(delay)
        due = loop.time()
        while True:
            await self._run_check(http, state)
            due += state.check.interval_seconds
            # A run that overran (suspended machine, overloaded loop) skips the missed
            # slots instead of firing them back to back.
            due = max(due, loop.time())
            await asyncio.sleep(due - loop.time())

    async def _run_check(self, http: HttpTarget | None, state: CheckState) -> None:
        try:
            result = await run_probe(http, state.check)
        except Exception as exc:
            # A bug in a probe must not take the other checks down with it.
            logger.exception("health check %s crashed", state.check.name)
            result = ProbeResult("fail", 0.0, f"internal error in the check: {exc!r}")
        self._apply(state, result)

    def _apply(self, state: CheckState, result: ProbeResult) -> None:
        before = state.status
        state.record(result, time.time())
        if state.status != before:
            logger.log(
                logging.WARNING if state.status == "fail" else logging.INFO,
                "health check %s is now %s",
                state.check.name,
                state.status,
                extra={
                    "watched_service": state.check.service_name,
                    "check": state.check.name,
                    "reason": state.output,
                },
            )


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # Building one costs ~0.1 s (it loads the CA bundle); every transport shares it.
    return httpx.create_ssl_context()


def _http_transport(tls: ssl.SSLContext) -> httpx.AsyncHTTPTransport:
    # No keep-alive: like kubelet, each run opens a fresh connection, so a stale pooled
    # socket can never fail a healthy target and a target that stops accepting is noticed.
    # No proxy: one from the environment must not sit between probe and target.
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=0)
    return httpx.AsyncHTTPTransport(limits=limits, trust_env=False, verify=tls)
