"""Wires the sidecar together: HTTP server, health checks and the services file on the
main event loop, log shipping in a child process of its own (or on a thread:
`shipping.isolation`).

Why shipping is kept apart: sidecar/README.md "Processes"; shipping/process.py and
shipping/supervisor.py say how the child is run, watched and restarted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from typing import TYPE_CHECKING

from sidecar.config import SidecarConfig
from sidecar.health.monitor import HealthMonitor
from sidecar.metrics import new_registry
from sidecar.server import build_app, make_server
from sidecar.services.watch import READY_CHECK, ServicesFileWatcher
from sidecar.shipping.handover import HEARTBEAT_STALE_SECONDS, ChildConfig
from sidecar.shipping.stall import SourceStatus
from sidecar.shipping.supervisor import ShippingSupervisor

if TYPE_CHECKING:
    from sidecar.shipping.metrics import ShippingMetrics
    from sidecar.shipping.service import ShippingService

log = logging.getLogger(__name__)

# How long a thread waiting for the GIL lets the running one go on before it asks for
# it (CPython's default is 5 ms). With shipping on a thread (isolation: thread) the
# main loop must get the GIL back quickly to answer /health and time probes.
SWITCH_INTERVAL_SECONDS = 0.001


class Sidecar:
    def __init__(self, config: SidecarConfig) -> None:
        self.registry, self._processes = new_registry()
        # With a services file, its sources and checks join the config's own
        # (ServicesFileError if it cannot be used) and follow it while running.
        self.services: ServicesFileWatcher | None = None
        if config.services_file is not None:
            self.services = ServicesFileWatcher(config, self.registry, self.apply)
            config = self.services.initial()
        self.config = config
        self.health = HealthMonitor(config.health, self.registry)
        self._thread_metrics: ShippingMetrics | None = None
        self.shipping: ShippingService | ShippingSupervisor | None = None
        if config.sources:
            self.shipping = self._new_shipping(config)
        self._reloading = False
        self._running = False
        self._loops: list[asyncio.Task[None]] = []
        app = build_app(self.registry, self.readiness, self.health.routes())
        self.server = make_server(app, config.server.host, config.server.port)

    def _child(self, config: SidecarConfig) -> ChildConfig:
        return ChildConfig(
            log_level=config.log_level,
            loki=config.loki,
            shipping=config.shipping,
            sources=config.sources,
        )

    def _new_shipping(self, config: SidecarConfig) -> ShippingService | ShippingSupervisor:
        if config.shipping.isolation == "process":
            supervisor = ShippingSupervisor(self._child(config), self.registry)
            self._processes.add("shipping", lambda: supervisor.pid)
            return supervisor
        # Imported here: with isolation: process the main process never loads the
        # shipping code (its memory is counted with the child's).
        from sidecar.shipping.metrics import ShippingMetrics
        from sidecar.shipping.process import recorder_for
        from sidecar.shipping.service import ShippingService

        if self._thread_metrics is None:
            self._thread_metrics = ShippingMetrics(self.registry)
        return ShippingService(
            config.loki,
            config.shipping,
            config.sources,
            self._thread_metrics,
            recorder_for(self.registry),
        )

    async def apply(self, config: SidecarConfig) -> None:
        """Run `config`'s sources and checks from now on (the services file changed).

        Checks change in place (unchanged ones keep their state). Changed sources restart
        shipping: it flushes and checkpoints as at SIGTERM, and the new sources resume
        from those checkpoints, so nothing is lost or read twice. Readiness holds while
        the new shipping starts (up to the status heartbeat's stale time).
        """
        previous = self.config
        await self.health.reconfigure(config.health)
        if config.sources == previous.sources:
            self.config = config
            return
        self._reloading = True
        try:
            await self._swap_shipping(previous, config)
            self.config = config
            deadline = time.monotonic() + HEARTBEAT_STALE_SECONDS
            while self.shipping is not None and not self.shipping.ready():
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
        finally:
            self._reloading = False

    async def _swap_shipping(self, previous: SidecarConfig, config: SidecarConfig) -> None:
        if isinstance(self.shipping, ShippingSupervisor):
            await self.shipping.reconfigure(self._child(config))
            return
        if self.shipping is not None:
            await self.shipping.stop()
        if self._thread_metrics is not None:
            from sidecar.reload import forget_sources

            forget_sources(self.registry, self._thread_metrics, previous.sources, config.sources)
        self.shipping = self._new_shipping(config) if config.sources else None
        if self.shipping is not None:
            self.shipping.start()

    def ready(self) -> bool:
        """Serving (the listening socket is bound), and every loop still running,
        shipping's too (Loki being down does not matter)."""
        return (
            self._running
            and self.server.started
            and (self._reloading or self.shipping is None or self.shipping.ready())
            and not any(task.done() for task in self._loops)
        )

    def readiness(self) -> tuple[bool, tuple[SourceStatus, ...], dict[str, str]]:
        problems = {}
        if self.services is not None and self.services.error is not None:
            problems[READY_CHECK] = self.services.error
        statuses = () if self.shipping is None else self.shipping.statuses
        return self.ready(), statuses, problems

    async def run(self, stop: asyncio.Event) -> None:
        if self.shipping is not None:
            self.shipping.start()
        server_task = asyncio.create_task(self.server.serve(), name="http-server")
        self._loops.append(asyncio.create_task(self.health.run(), name="health"))
        if self.services is not None:
            self._loops.append(asyncio.create_task(self.services.run(), name="services-file"))
        self._running = True
        log.info(
            "sidecar running",
            extra={
                "sources": [s.name for s in self.config.sources],
                "listen": f"{self.config.server.host}:{self.config.server.port}",
                "shipping": self.config.shipping.isolation,
            },
        )
        stop_wait = asyncio.create_task(stop.wait())
        await asyncio.wait([stop_wait, server_task], return_when=asyncio.FIRST_COMPLETED)
        if server_task.done() and not stop.is_set():
            log.error("HTTP server stopped; shutting down", exc_info=server_task.exception())
        stop_wait.cancel()
        self._running = False
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        if self.shipping is not None:
            await self.shipping.stop()
        self.server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await server_task
        log.info("sidecar stopped")


async def serve(config: SidecarConfig) -> None:
    if config.shipping.isolation == "thread":
        from sidecar.shipping.service import tune_gc

        tune_gc()
        sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await Sidecar(config).run(stop)
