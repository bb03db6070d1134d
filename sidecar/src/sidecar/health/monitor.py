"""Runs every health check on the current event loop and serves GET /health from memory."""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import ssl
import time
from collections import defaultdict
from collections.abc import Sequence

import httpx
from prometheus_client import CollectorRegistry
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sidecar.health.config import HealthConfig, HttpCheck, TcpCheck
from sidecar.health.healthjson import MEDIA_TYPE
from sidecar.health.metrics import HealthCollector
from sidecar.health.probes import HttpTarget, ProbeResult, build_request, run_probe
from sidecar.health.report import render
from sidecar.health.state import CheckState

logger = logging.getLogger(__name__)

# Checks start spread over their interval, at most this far apart, so a thousand of
# them do not all fire in the same instant and stall the loop that answers /health...
MAX_START_SPACING = 0.01
# ...but in batches on this grid: probes that run together share the loop's wake-ups
# (one wake-up per probe was a profile finding: bench/health_fanout/README.md,
# "Profile"), while a batch (~10 probes at 1,000 checks per 10 s) is too small to hold
# up /health.
START_GRID = 0.1
# HTTP checks share an httpx transport in groups of this size. httpcore's pool scans all its
# connections and queued requests on every request, so one pool for a thousand checks
# (dozens of them hanging) grows quadratically costly; a transport per check instead adds
# objects that every full GC pass must walk, stalling the loop
# (bench/health_fanout/README.md, "Profile").
CHECKS_PER_TRANSPORT = 25


class HealthMonitor:
    """Owns the check loops, their state, and the sidecar_health_* metrics.

    `reconfigure` changes the set of checks while running (a changed services file): a
    check whose definition is unchanged keeps its state, so its flap counters and its
    published status carry over and a reload neither resets nor pages anything.
    """

    def __init__(self, config: HealthConfig, registry: CollectorRegistry) -> None:
        self._states: dict[str, CheckState] = {}
        # Read by the collector at every scrape; updated in place on reconfigure.
        self._by_service: dict[str, list[CheckState]] = {}
        registry.register(HealthCollector(self._by_service))
        self._transports: list[httpx.AsyncHTTPTransport] = []
        self._http: dict[str, HttpTarget] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._group: asyncio.TaskGroup | None = None
        self._add(config.checks)
        self._index()
        self._running = False

    def _add(self, checks: Sequence[HttpCheck | TcpCheck]) -> None:
        now = time.time()
        for check in checks:
            self._states[check.name] = CheckState(check, since=now)
        http = [check for check in checks if isinstance(check, HttpCheck)]
        for start in range(0, len(http), CHECKS_PER_TRANSPORT):
            transport = _http_transport(_tls_context())
            self._transports.append(transport)
            for check in http[start : start + CHECKS_PER_TRANSPORT]:
                self._http[check.name] = HttpTarget(transport, build_request(check))

    def _index(self) -> None:
        by_service: dict[str, list[CheckState]] = defaultdict(list)
        for state in self._states.values():
            by_service[state.check.service_name].append(state)
        self._by_service.clear()
        self._by_service.update(by_service)

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
                self._group = group
                self._schedule(list(self._states.values()))
                self._running = True
                await asyncio.Event().wait()
        finally:
            self._running = False
            self._group = None
            for transport in self._transports:
                await transport.aclose()

    def _schedule(self, states: list[CheckState]) -> None:
        assert self._group is not None
        count = len(states)
        for index, state in enumerate(states):
            spacing = min(state.check.interval_seconds / count, MAX_START_SPACING)
            delay = math.floor(index * spacing / START_GRID) * START_GRID
            self._tasks[state.check.name] = self._group.create_task(
                self._repeat(state, delay), name=f"health-check {state.check.name}"
            )

    async def reconfigure(self, config: HealthConfig) -> None:
        """Run `config`'s checks from now on: new ones start, removed or changed ones stop
        (and leave /health and the metrics), unchanged ones go on as they were."""
        wanted = {check.name: check for check in config.checks}
        for name, state in list(self._states.items()):
            if wanted.get(name) != state.check:
                del self._states[name]
                self._http.pop(name, None)
                task = self._tasks.pop(name, None)
                if task is not None:
                    task.cancel()
        added = [check for name, check in wanted.items() if name not in self._states]
        self._add(added)
        self._states = {name: self._states[name] for name in wanted}
        self._index()
        if self._group is not None:
            self._schedule([self._states[check.name] for check in added])
        used = {id(target.transport) for target in self._http.values()}
        idle = [t for t in self._transports if id(t) not in used]
        self._transports = [t for t in self._transports if id(t) in used]
        for transport in idle:
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
    # Building one loads and parses the CA bundle, too slow to repeat per transport
    # (bench/health_fanout/README.md, "Profile").
    return httpx.create_ssl_context()


def _http_transport(tls: ssl.SSLContext) -> httpx.AsyncHTTPTransport:
    # No keep-alive: like kubelet, each run opens a fresh connection, so a stale pooled
    # socket can never fail a healthy target and a target that stops accepting is noticed.
    # No proxy: one from the environment must not sit between probe and target.
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=0)
    return httpx.AsyncHTTPTransport(limits=limits, trust_env=False, verify=tls)
