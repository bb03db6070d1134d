"""The sidecar's own logs: JSON lines on stdout with the contract's log record fields."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Hashable
from typing import Any

from sidecar import telemetry_contract as contract
from sidecar.jsonlog import JsonLineFormatter


def configure(level: str) -> None:
    handler = logging.StreamHandler(sys.stdout)
    # The stack's one JSON line formatter (jsonlog.py, a copy of contract/jsonlog.py); the
    # sidecar adds no field of its own.
    handler.setFormatter(JsonLineFormatter(contract.SERVICE_NAME))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's access log would be one line per scrape: noise, not signal.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)


class Throttled:
    """A logger that repeats a message at most once per `interval` seconds per key.

    The first occurrence is logged at once; later ones within the interval are counted
    and reported with the next one that gets through (`suppressed`), so a condition that
    recurs every millisecond (a failing push, a file that keeps being truncated) costs one
    line per interval instead of filling the disk.
    """

    _MAX_KEYS = 1024

    def __init__(self, logger: logging.Logger, interval: float) -> None:
        self._logger = logger
        self._interval = interval
        self._last: dict[Hashable, tuple[float, int]] = {}

    def log(self, level: int, key: Hashable, message: str, extra: dict[str, Any]) -> None:
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last[0] < self._interval:
            self._last[key] = (last[0], last[1] + 1)
            return
        if len(self._last) >= self._MAX_KEYS:
            self._last.clear()
        suppressed = 0 if last is None else last[1]
        self._last[key] = (now, 0)
        self._logger.log(level, message, extra={**extra, "suppressed": suppressed})

    def warning(self, key: Hashable, message: str, extra: dict[str, Any]) -> None:
        self.log(logging.WARNING, key, message, extra)
