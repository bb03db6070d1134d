"""Wires the sidecar together: HTTP server and health checks on the main event loop,
log shipping in a child process of its own (or on a thread: `shipping.isolation`).

Why shipping is kept apart: sidecar/README.md "Processes"; shipping/process.py and
shipping/supervisor.py say how the child is run, watched and restarted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from typing import TYPE_CHECKING

from sidecar.config import SidecarConfig
from sidecar.health.monitor import HealthMonitor
from sidecar.metrics import new_registry
from sidecar.server import build_app, make_server
from sidecar.shipping.handover import ChildConfig
from sidecar.shipping.stall import SourceStatus
from sidecar.shipping.supervisor import ShippingSupervisor

if TYPE_CHECKING:
    from sidecar.shipping.service import ShippingService

log = logging.getLogger(__name__)

# How long a thread waiting for the GIL lets the running one go on before it asks for
# it (CPython's default is 5 ms). With shipping on a thread (isolation: thread) the
# main loop must get the GIL back quickly to answer /health and time probes.
SWITCH_INTERVAL_SECONDS = 0.001


class Sidecar:
    def __init__(self, config: SidecarConfig) -> None:
        self.config = config
        self.registry, processes = new_registry()
        self.health = HealthMonitor(config.health, self.registry)
        self.shipping: ShippingService | ShippingSupervisor | None = None
        if config.sources and config.shipping.isolation == "process":
            child = ChildConfig(
                log_level=config.log_level,
                loki=config.loki,
                shipping=config.shipping,
                sources=config.sources,
            )
            self.shipping = ShippingSupervisor(child, self.registry)
            processes.add("shipping", lambda: self.shipping.pid)  # type: ignore[union-attr]
        elif config.sources:
            # Imported here: with isolation: process the main process never loads the
            # shipping code (its memory is counted with the child's).
            from sidecar.shipping.metrics import ShippingMetrics
            from sidecar.shipping.process import recorder_for
            from sidecar.shipping.service import ShippingService

            self.shipping = ShippingService(
                config.loki,
                config.shipping,
                config.sources,
                ShippingMetrics(self.registry),
                recorder_for(self.registry),
            )
        self._running = False
        self._loops: list[asyncio.Task[None]] = []
        app = build_app(self.registry, self.readiness, self.health.routes())
        self.server = make_server(app, config.server.host, config.server.port)

    def ready(self) -> bool:
        """Serving (the listening socket is bound), and every loop still running,
        shipping's too (Loki being down does not matter)."""
        return (
            self._running
            and self.server.started
            and (self.shipping is None or self.shipping.ready())
            and not any(task.done() for task in self._loops)
        )

    def readiness(self) -> tuple[bool, tuple[SourceStatus, ...]]:
        statuses = () if self.shipping is None else self.shipping.statuses
        return self.ready(), statuses

    async def run(self, stop: asyncio.Event) -> None:
        if self.shipping is not None:
            self.shipping.start()
        server_task = asyncio.create_task(self.server.serve(), name="http-server")
        self._loops.append(asyncio.create_task(self.health.run(), name="health"))
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
        if self.shipping is not None:
            await self.shipping.stop()
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
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
