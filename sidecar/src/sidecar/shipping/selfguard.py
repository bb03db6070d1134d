"""Keeps the sidecar from tailing its own output (a feedback loop of its own logs)."""

from __future__ import annotations

import os
import re
import stat

_CONTAINER_ID = re.compile(r"/containers/([0-9a-f]{64})/")


def _own_container_id() -> str | None:
    try:
        with open("/proc/self/mountinfo", encoding="utf-8") as handle:
            match = _CONTAINER_ID.search(handle.read())
    except OSError:
        return None
    return match.group(1) if match else None


class SelfGuard:
    def __init__(self) -> None:
        self._files: set[tuple[int, int]] = set()
        for fd in (1, 2):
            try:
                info = os.fstat(fd)
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                self._files.add((info.st_dev, info.st_ino))
        self._container_id = _own_container_id()

    def is_own(self, dev_ino: tuple[int, int], path: str) -> bool:
        """True for our own stdout/stderr file, or our own container's json-file log."""
        if dev_ino in self._files:
            return True
        return self._container_id is not None and self._container_id in path
