"""The running sidecar follows the services file: validated first, the last good one kept.

Every `services_file.poll_interval_seconds` the file is stat'ed; when its inode, size or
modification time changed, it is read and validated (the loader, then the merge with
the sidecar's own config, derive.py). A valid file whose content changed is applied
(its sources and checks run from then on) and saved as the last good copy beside the
positions file. A file that cannot be used changes nothing: the sidecar keeps running
with the last good config and reports why, with the service and field named,

- in `sidecar_services_file_last_reload_successful` (0 until a good file is applied;
  `..._success_timestamp_seconds` says when the last good one was),
- in /health/ready (`warn`, a `config:services-file` entry with the error),
- and in its log, once per change of the file.

At start, a file that cannot be used makes the sidecar start with the last good copy if
there is one (reporting the same way), else it exits with the error: no services are
watched by surprise, and a bad edit never takes the log shipping of every service down.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge

from sidecar import telemetry_contract as contract
from sidecar.config import SidecarConfig
from sidecar.services.derive import with_services
from sidecar.services.loader import ServicesFileError, parse_bytes, read

log = logging.getLogger(__name__)

LAST_GOOD_NAME = "services.last-good.yaml"
READY_CHECK = "config:services-file"

Apply = Callable[[SidecarConfig], Awaitable[None]]


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


class ServicesFileWatcher:
    def __init__(self, config: SidecarConfig, registry: CollectorRegistry, apply: Apply) -> None:
        assert config.services_file is not None
        self._own = config  # the sidecar's config file alone
        self._path = config.services_file.path
        self._poll = config.services_file.poll_interval_seconds
        self._last_good = config.shipping.positions_file.parent / LAST_GOOD_NAME
        self._apply = apply
        self._seen: tuple[int, ...] | None = None
        self._applied: str | None = None  # digest of the content running now
        self.error: str | None = None
        self._ok = Gauge(
            contract.SERVICES_FILE_RELOAD_SUCCESSFUL.name,
            "1 if the services file as it is now runs; 0 while it cannot be used and the "
            "last good one runs instead.",
            contract.SERVICES_FILE_RELOAD_SUCCESSFUL.labels,
            registry=registry,
        ).labels(contract.SERVICE_NAME)
        self._when = Gauge(
            contract.SERVICES_FILE_RELOAD_TIMESTAMP.name,
            "When the running services file was read and applied.",
            contract.SERVICES_FILE_RELOAD_TIMESTAMP.labels,
            registry=registry,
        ).labels(contract.SERVICE_NAME)

    # -- at start ----------------------------------------------------------------------

    def initial(self) -> SidecarConfig:
        """The config to start with; ServicesFileError if neither the file nor a last
        good copy can be used."""
        self._seen = self._signature()
        try:
            data = read(self._path)
            config = self._build(data, str(self._path))
        except ServicesFileError as exc:
            fallback = self._fallback()
            if fallback is None:
                raise
            self._failed(str(exc))
            log.warning(
                "starting with the last good services file",
                extra={"path": str(self._path), "last_good": str(self._last_good)},
            )
            return fallback
        self._succeeded(data, config)
        return config

    def _fallback(self) -> SidecarConfig | None:
        try:
            data = self._last_good.read_bytes()
            config = self._build(data, str(self._last_good))
        except FileNotFoundError:
            return None
        except (OSError, ServicesFileError) as exc:
            log.warning("the last good services file cannot be used", extra={"error": str(exc)})
            return None
        self._applied = _digest(data)
        return config

    # -- while running -----------------------------------------------------------------

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._poll)
            await self.poll()

    async def poll(self) -> None:
        """Look at the file once; apply it if it changed and is valid."""
        signature = self._signature()
        if signature == self._seen:
            return
        self._seen = signature
        try:
            data, config = await asyncio.to_thread(self._read_and_build)
        except ServicesFileError as exc:
            self._failed(str(exc))
            return
        if _digest(data) != self._applied:
            try:
                await self._apply(config)
            except Exception as exc:
                log.exception("applying the services file failed")
                self._failed(f"{self._path}: applying it failed: {exc!r}")
                return
        self._succeeded(data, config)

    def _signature(self) -> tuple[int, ...]:
        try:
            info = os.stat(self._path)
        except OSError as exc:
            return (exc.errno or -1,)
        return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)

    def _read_and_build(self) -> tuple[bytes, SidecarConfig]:
        data = read(self._path)
        return data, self._build(data, str(self._path))

    def _build(self, data: bytes, origin: str) -> SidecarConfig:
        return with_services(self._own, parse_bytes(data, origin), origin)

    # -- reporting -----------------------------------------------------------------------

    def _failed(self, message: str) -> None:
        self._ok.set(0)
        if message != self.error:
            log.error(
                "services file not applied; the last good one stays in force",
                extra={"path": str(self._path), "error": message},
            )
        self.error = message

    def _succeeded(self, data: bytes, config: SidecarConfig) -> None:
        digest = _digest(data)
        if digest != self._applied:
            log.info(
                "services file applied",
                extra={
                    "path": str(self._path),
                    "service_names": sorted(
                        {s.service_name for s in config.sources}
                        | {c.service_name for c in config.health.checks}
                    ),
                    "sources": [source.name for source in config.sources],
                    "checks": [check.name for check in config.health.checks],
                },
            )
            self._save(data)
        self._applied = digest
        self.error = None
        self._ok.set(1)
        self._when.set(time.time())

    def _save(self, data: bytes) -> None:
        """Keep a copy to start from should the file be unusable at the next start."""
        directory = self._last_good.parent
        try:
            directory.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(dir=directory, prefix=f".{LAST_GOOD_NAME}.")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temporary, self._last_good)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError as exc:
            log.warning(
                "cannot keep a copy of the services file",
                extra={"path": str(self._last_good), "error": str(exc)},
            )
