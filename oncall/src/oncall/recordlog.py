"""The inbox's record file: one JSON line per notification, rotated by size.

The sidecar tails the file and ships each line to Loki (it follows the
rename of a rotation: inbox.log -> inbox.log.1). A record is written and
flushed before the webhook is answered, so a 200 means the line is on disk; a
failed write (a full disk) raises, and the caller answers 503 so that
Alertmanager retries. At start the inbox page is refilled from the end of the
file, so a restart keeps what the page showed.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# The most a restart reads back from the end of the file.
TAIL_BYTES = 1024 * 1024


class _RaisingHandler(logging.handlers.RotatingFileHandler):
    """logging's default would print a failed write and carry on; the caller must know."""

    def handleError(self, record: logging.LogRecord) -> None:
        raise  # re-raises the exception being handled inside emit()


class RecordLog:
    def __init__(self, path: Path, max_bytes: int, backups: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._handler = _RaisingHandler(
            path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8", delay=True
        )
        self._handler.setFormatter(logging.Formatter("%(message)s"))

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
        self._handler.emit(logging.makeLogRecord({"msg": line, "args": None}))

    def writable(self) -> bool:
        parent = self.path.parent
        return parent.is_dir() and (not self.path.exists() or self.path.is_file())

    def close(self) -> None:
        self._handler.close()

    def tail(self, count: int) -> list[dict[str, Any]]:
        """The last `count` records of the current file, oldest first (bad lines skipped)."""
        return list(self._lines())[-count:]

    def _lines(self) -> Iterator[dict[str, Any]]:
        try:
            with self.path.open("rb") as handle:
                size = handle.seek(0, 2)
                handle.seek(max(0, size - TAIL_BYTES))
                data = handle.read()
        except FileNotFoundError:
            return
        lines = data.split(b"\n")
        if size > TAIL_BYTES:
            lines = lines[1:]  # the first one is cut
        for line in lines:
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                yield value
