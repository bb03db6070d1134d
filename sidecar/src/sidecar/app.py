"""Wires the sidecar together: HTTP server and health checks on the main event loop,
log shipping on its own thread (shipping/service.py says why)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import sys

from sidecar.accesslog.recorder import AccessLogRecorder
from sidecar.config import SidecarConfig
from sidecar.health.monitor import HealthMonitor
from sidecar.metrics import new_registry
from sidecar.reload import forget_sources
from sidecar.server import build_app, make_server
from sidecar.services.watch import READY_CHECK, ServicesFileWatcher
from sidecar.shipping.config import SourceConfig
from sidecar.shipping.metrics import ShippingMetrics
from sidecar.shipping.service import ShippingService
from sidecar.shipping.source import SourcePipeline
from sidecar.shipping.stall import SourceStatus

log = logging.getLogger(__name__)

# How long a thread waiting for the GIL lets the running one go on before it asks for
# it (CPython's default is 5 ms). Shipping keeps one thread busy; the main loop must get
# the GIL back quickly to answer /health and to time probes without inflating them.
SWITCH_INTERVAL_SECONDS = 0.001


class Sidecar:
    def __init__(self, config: SidecarConfig) -> None:
        self.registry = new_registry()
        # With a services file, its sources and checks join the config's own
        # (ServicesFileError if it cannot be used) and follow it while running.
        self.services: ServicesFileWatcher | None = None
        if config.services_file is not None:
            self.services = ServicesFileWatcher(config, self.registry, self.apply)
            config = self.services.initial()
        self.config = config
        self.metrics = ShippingMetrics(self.registry)
        self.health = HealthMonitor(config.health, self.registry)
        self.shipping = self._shipping(config)
        self._reloading = False
        self._running = False
        self._loops: list[asyncio.Task[None]] = []
        app = build_app(self.registry, self.readiness, self.health.routes())
        self.server = make_server(app, config.server.host, config.server.port)

    def _shipping(self, config: SidecarConfig) -> ShippingService:
        return ShippingService(
            config.loki, config.shipping, config.sources, self.metrics, self._recorder
        )

    async def apply(self, config: SidecarConfig) -> None:
        """Run `config`'s sources and checks from now on (the services file changed).

        Checks change in place (unchanged ones keep their state). Changed sources restart
        shipping: it flushes and checkpoints as at SIGTERM, and the new sources resume
        from those checkpoints, so nothing is lost or read twice.
        """
        previous = self.config
        await self.health.reconfigure(config.health)
        if config.sources == previous.sources:
            self.config = config
            return
        self._reloading = True
        try:
            with contextlib.suppress(Exception):  # a failed loop was logged where it failed
                await self.shipping.stop()
            forget_sources(self.registry, self.metrics, previous.sources, config.sources)
            self.shipping = self._shipping(config)
            self.shipping.start()
            self.config = config
        finally:
            self._reloading = False

    def _recorder(self, source: SourceConfig) -> AccessLogRecorder | None:
        if source.access_log is None:
            return None
        return AccessLogRecorder(source.access_log, source.service_name, self.registry)

    @property
    def pipelines(self) -> list[SourcePipeline]:
        return self.shipping.pipelines

    def ready(self) -> bool:
        """Serving (the listening socket is bound), and every loop still running (Loki
        being down does not matter)."""
        return (
            self._running
            and self.server.started
            and (self._reloading or self.shipping.ready())
            and not any(task.done() for task in self._loops)
        )

    def readiness(self) -> tuple[bool, tuple[SourceStatus, ...], dict[str, str]]:
        problems = {}
        if self.services is not None and self.services.error is not None:
            problems[READY_CHECK] = self.services.error
        return self.ready(), self.shipping.statuses, problems

    async def run(self, stop: asyncio.Event) -> None:
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
            },
        )
        stop_wait = asyncio.create_task(stop.wait())
        await asyncio.wait([stop_wait, server_task], return_when=asyncio.FIRST_COMPLETED)
        if server_task.done() and not stop.is_set():
            log.error("HTTP server stopped; shutting down", exc_info=server_task.exception())
        stop_wait.cancel()
        self._running = False
        await self.shipping.stop()
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        self.server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await server_task
        log.info("sidecar stopped")


def tune_gc() -> None:
    """Fewer cyclic-GC passes over the line buffer.

    The buffer holds up to buffer_max_bytes of small long-lived objects; with CPython's
    default thresholds every 700 allocations start a collection that walks them
    (bench/log_shipping/README.md has the measurement).
    """
    gc.freeze()  # what startup allocated lives for the whole run
    gc.set_threshold(10_000, 50, 100)


async def serve(config: SidecarConfig) -> None:
    tune_gc()
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await Sidecar(config).run(stop)
