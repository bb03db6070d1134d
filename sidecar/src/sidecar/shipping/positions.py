"""Checkpoints on disk: per file, its identity, a fingerprint and the acknowledged offset.

The file is replaced atomically (temp file, fsync, rename, fsync of the directory), so
a crash leaves either the old or the new checkpoint, never a torn one.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import orjson

log = logging.getLogger(__name__)

FINGERPRINT_BYTES = 1024
_VERSION = 1


@dataclass
class Position:
    path: str
    offset: int
    fingerprint: str
    fingerprint_len: int
    # (file offset, ns) pairs: the read time given to timestamp-less lines from that
    # offset on, kept so a re-sent line gets the same timestamp and Loki collapses it.
    anchors: list[tuple[int, int]] = field(default_factory=list)


def fingerprint(fd: int, length: int) -> tuple[str, int]:
    """Hash of the file's first `length` bytes (fewer if it is shorter) and their count."""
    head = os.pread(fd, length, 0)
    return hashlib.blake2b(head, digest_size=16).hexdigest(), len(head)


def matches(fd: int, position: Position) -> bool:
    digest, length = fingerprint(fd, position.fingerprint_len)
    return length == position.fingerprint_len and digest == position.fingerprint


class PositionsStore:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, Position]:
        try:
            raw = orjson.loads(self.path.read_bytes())
        except FileNotFoundError:
            return {}
        except (OSError, orjson.JSONDecodeError) as exc:
            # Unreadable checkpoints: start from 0 (duplicates, which Loki collapses),
            # rather than from the end (loss).
            log.error(
                "positions file unreadable; every file restarts from offset 0",
                extra={"path": str(self.path), "error": str(exc)},
            )
            return {}
        positions: dict[str, Position] = {}
        for key, entry in raw.get("files", {}).items():
            try:
                positions[key] = Position(
                    path=str(entry["path"]),
                    offset=int(entry["offset"]),
                    fingerprint=str(entry["fingerprint"]),
                    fingerprint_len=int(entry["fingerprint_len"]),
                    anchors=[(int(o), int(t)) for o, t in entry.get("anchors", [])],
                )
            except (KeyError, TypeError, ValueError):
                log.error("ignoring a malformed checkpoint", extra={"key": key})
        return positions

    def save(self, positions: dict[str, Position]) -> None:
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
                    }
                    for key, p in positions.items()
                },
            }
        )
        directory = self.path.parent
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / f".{self.path.name}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
