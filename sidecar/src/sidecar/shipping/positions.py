"""Checkpoints on disk: per file generation, its fingerprint and acknowledged offset.

Guarantees:
- The file is replaced atomically (a unique temp file in the same directory, created
  with O_EXCL|O_NOFOLLOW, fsync, rename, fsync of the directory): a crash leaves the old
  or the new checkpoint, never a torn one.
- One writer at a time, and never an older snapshot over a newer one: saves are
  serialised by a lock and each carries a sequence number.
- Loading never raises: an unreadable or wrong-shaped file, or an entry with a negative
  or impossible offset, is logged and moved aside to `<name>.corrupt-<time>`; the entries
  that were valid are kept and the others' files start from 0 (at-least-once).
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from sidecar.shipping.generation import FINGERPRINT_BYTES

log = logging.getLogger(__name__)

_VERSION = 2


@dataclass
class Position:
    path: str
    offset: int
    fingerprint: str
    fingerprint_len: int
    anchors: list[tuple[int, int]] = field(default_factory=list)
    observed: int = 0  # access-log metrics position (see generation.py)


class PositionsStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._written = -1  # sequence number of the snapshot on disk

    def load(self) -> dict[str, Position]:
        try:
            raw = orjson.loads(self.path.read_bytes())
        except FileNotFoundError:
            return {}
        except (OSError, orjson.JSONDecodeError) as exc:
            self._set_aside(f"unreadable: {exc}")
            return {}
        files = raw.get("files") if isinstance(raw, dict) else None
        if not isinstance(files, dict):
            self._set_aside("not an object with a 'files' object")
            return {}
        positions: dict[str, Position] = {}
        bad: list[str] = []
        for key, entry in files.items():
            position = _position(entry)
            if position is None:
                bad.append(key)
            else:
                positions[key] = position
        if bad:
            self._set_aside(f"{len(bad)} malformed entries, e.g. {bad[0]!r}")
        return positions

    def _set_aside(self, why: str) -> None:
        aside = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}")
        try:
            os.replace(self.path, aside)
        except OSError as exc:
            aside = Path(f"(could not move: {exc.strerror})")
        log.error(
            "positions file is not usable as a whole; the files it cannot place start from "
            "offset 0 (lines may be sent again, none is skipped)",
            extra={"path": str(self.path), "problem": why, "moved_to": str(aside)},
        )

    def save(self, positions: dict[str, Position], sequence: int) -> bool:
        """Write `positions` unless a snapshot with a higher sequence is already on disk."""
        payload = orjson.dumps(
            {
                "version": _VERSION,
                "files": {
                    key: {
                        "path": p.path,
                        "offset": p.offset,
                        "fingerprint": p.fingerprint,
                        "fingerprint_len": p.fingerprint_len,
                        "anchors": p.anchors,
                        "observed": p.observed,
                    }
                    for key, p in positions.items()
                },
            }
        )
        with self._lock:
            if sequence <= self._written:
                return False
            self._write(payload)
            self._written = sequence
            return True

    def _write(self, payload: bytes) -> None:
        directory = self.path.parent
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=directory)
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            os.unlink(tmp)
            raise
        os.close(fd)
        os.replace(tmp, self.path)
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _position(entry: Any) -> Position | None:
    """A checkpoint entry if every field has a usable value, else None."""
    if not isinstance(entry, dict):
        return None
    try:
        offset = entry["offset"]
        length = entry["fingerprint_len"]
        observed = entry.get("observed", 0)
        anchors = [(int(o), int(t)) for o, t in entry.get("anchors", [])]
        values = (offset, length, observed)
        if any(type(v) is not int or v < 0 for v in values) or length > FINGERPRINT_BYTES:
            return None
        if any(o < 0 or t < 0 for o, t in anchors):
            return None
        fp = entry["fingerprint"]
        if not isinstance(fp, str) or not isinstance(entry["path"], str):
            return None
        return Position(entry["path"], offset, fp, length, anchors, observed)
    except (KeyError, TypeError, ValueError):
        return None
