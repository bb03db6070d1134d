"""For a dependency the service can do without (the Redis cache, Redis rate-limit storage):
after a failure the caller falls back for `cooldown` seconds without trying again (so a
dead or hanging Redis costs one timeout per cooldown, not one per request); every failure
is counted, and logged at most once per `log_interval` with how many came since the last
line, so an outage neither floods the log nor goes unseen."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from prometheus_client import Counter

logger = logging.getLogger("sample_service.fallback")


class Fallback:
    def __init__(
        self,
        dependency: str,
        consequence: str,
        errors: Counter | None,
        cooldown: float = 5.0,
        log_interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.dependency = dependency
        self.consequence = consequence
        self._errors = errors
        self._cooldown = cooldown
        self._log_interval = log_interval
        self._clock = clock
        self._failed_at = float("-inf")
        self._logged_at = float("-inf")
        self._unlogged = 0

    def available(self) -> bool:
        """False for `cooldown` seconds after a failure: use the fallback without trying."""
        return self._clock() - self._failed_at >= self._cooldown

    def failed(self, operation: str, error: BaseException) -> None:
        now = self._clock()
        self._failed_at = now
        if self._errors is not None:
            self._errors.labels(operation).inc()
        self._unlogged += 1
        if now - self._logged_at < self._log_interval:
            return
        # The exception's type only: its message can carry addresses and credentials.
        logger.warning(
            "%s failed (%s on %s, %d failure(s) since the last report): %s",
            self.dependency,
            type(error).__name__,
            operation,
            self._unlogged,
            self.consequence,
            extra={"dependency": self.dependency, "failures": self._unlogged},
        )
        self._logged_at = now
        self._unlogged = 0
