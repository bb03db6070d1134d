"""One shipper per positions file: an exclusive lock held while shipping runs.

Guarantee: two shippers never read from and checkpoint into the same positions file at
once. The lock is `flock` on `<positions file>.lock`, which the kernel releases when its
holder exits however it exits (kill -9 included), so a stale lock cannot outlive its
process. A shipping process started while an earlier one still drains after its parent
died waits here until that one wrote its final checkpoint.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

POLL_SECONDS = 0.1


class PositionsLock:
    def __init__(self, positions_file: Path) -> None:
        self.path = positions_file.with_name(positions_file.name + ".lock")
        self._fd: int | None = None

    async def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(self.path, flags, 0o600)
        try:
            waited = await self._lock(fd)
        except BaseException:
            # Cancelled while waiting (stopped before the other shipper finished), or
            # flock itself failed: the descriptor must not outlive the attempt.
            os.close(fd)
            raise
        if waited:
            log.info("positions file lock acquired", extra={"lock": str(self.path)})
        self._fd = fd

    async def _lock(self, fd: int) -> bool:
        """Take the flock on `fd`, polling while another holds it; whether it waited."""
        waited = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not waited:
                    waited = True
                    log.warning(
                        "another shipper holds the positions file; waiting for it to finish",
                        extra={"lock": str(self.path)},
                    )
                await asyncio.sleep(POLL_SECONDS)
                continue
            return waited

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the only descriptor releases the flock
            self._fd = None
