"""A source's open files: new ones, rotation, truncation, and releasing drained ones.

Files are tracked by inode, and their content by generation (generation.py).
Guarantees:
- **rename + create**: a renamed file keeps its inode and is read on; a file that left
  every glob or was deleted stays open until it has been gone, and quiet, for
  rotate_wait_seconds, fully read and fully acknowledged; only then is it closed (so the
  kernel keeps a deleted file's data until it is shipped). A file missed by one scan
  (renamed between the glob and its stat, as a rotation shifts `app.log.N` up) is found
  again by the next one and read on; a released file that comes back is not read again.
- **copytruncate**: a truncated file restarts from 0 in a new generation; a new file
  whose content continues an ended generation (retired.py) takes it over and goes on
  from where it stood, with its in-flight lines, so the copy is not sent a second time.
  While the original is intact, such a copy is not read at all (it holds nothing the
  original does not).
- On start, a checkpoint is used by the inode it was written for if its content still
  fits, else by a file whose content continues it; anything else starts from 0.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable

from sidecar.logs import Throttled
from sidecar.shipping.acks import FileAcks
from sidecar.shipping.config import ShippingConfig, SourceConfig
from sidecar.shipping.discovery import DevIno, Discovery
from sidecar.shipping.generation import Generation, head_matches
from sidecar.shipping.linereader import Chunk
from sidecar.shipping.positions import Position
from sidecar.shipping.retired import RetiredGenerations
from sidecar.shipping.selfguard import SelfGuard
from sidecar.shipping.tailer import Tailer, new_generation, position_fits, resumed_generation

log = logging.getLogger(__name__)


def from_position(position: Position) -> Generation:
    return Generation(
        position.fingerprint,
        position.fingerprint_len,
        FileAcks(position.offset),
        anchors=list(position.anchors),
        observed=max(position.observed, position.offset),
        resume_at=position.offset,
    )


class FileSet:
    def __init__(
        self,
        source: SourceConfig,
        shipping: ShippingConfig,
        discovery: Discovery,
        guard: SelfGuard,
        resume: dict[str, Position],
        flush: Callable[[Tailer, Chunk, bool], None],
        forget: Callable[[Tailer], int | None],
    ) -> None:
        self.source = source
        self.shipping = shipping
        self._discovery = discovery
        self._guard = guard
        prefix = f"{source.name}/"
        self._resume = {k: p for k, p in resume.items() if k.startswith(prefix)}
        self._flush = flush
        self._forget = forget
        self.tailers: dict[str, Tailer] = {}
        self._ignored: set[DevIno] = set()
        self._retired = RetiredGenerations(source.name, shipping.rotate_wait_seconds)
        self._warn = Throttled(log, 60.0)

    # -- scanning ------------------------------------------------------------------

    def scan(self) -> None:
        """Find new files, notice rotation, truncation and deletion, release drained files."""
        by_identity = {t.dev_ino: t for t in self.tailers.values()}
        found = self._discovery.scan(set(by_identity))
        fresh: list[tuple[DevIno, str, int]] = []
        for dev_ino, path in found.items():
            tailer = by_identity.get(dev_ino)
            if tailer is not None:
                tailer.path = path
                tailer.detached_at = None
            elif dev_ino not in self._ignored:
                fd = self._open(dev_ino, path)
                if fd is not None:
                    fresh.append((dev_ino, path, fd))
        # Checkpoints written for these very inodes first, then content matches.
        undecided = []
        for dev_ino, path, fd in fresh:
            position = self._resume.pop(self._key(dev_ino), None)
            if position is not None and position_fits(fd, position):
                self._track(dev_ino, path, fd, resumed_generation(fd, position))
            else:
                if position is not None:
                    self._retired.add(position.path, from_position(position), self._key(dev_ino))
                undecided.append((dev_ino, path, fd))
        if self._resume:
            # Checkpoints of files not found: a copy of one may still turn up, or the file
            # itself (missed by this scan, or moved out of the globs and back).
            for position in self._resume.values():
                self._retired.add(position.path, from_position(position), None)
            self._resume.clear()
        now = time.monotonic()
        for tailer in list(self.tailers.values()):
            self.check(tailer, tailer.dev_ino in found, now)
        for dev_ino, path, fd in undecided:
            self._place(dev_ino, path, fd)
        self._retired.expire(now)

    def _key(self, dev_ino: DevIno) -> str:
        return f"{self.source.name}/{dev_ino[0]}:{dev_ino[1]}"

    def _open(self, dev_ino: DevIno, path: str) -> int | None:
        if self._guard.is_own(dev_ino, path):
            self._ignored.add(dev_ino)
            log.warning("not tailing the sidecar's own output", extra={"path": path})
            return None
        fd = self._discovery.open(path, dev_ino)
        if fd is not None and _size(fd) == 0:
            # Nothing to read yet, and nothing to recognise it by (a copy being made, or
            # a fresh file): looked at again on the next scan.
            os.close(fd)
            return None
        return fd

    def _place(self, dev_ino: DevIno, path: str, fd: int) -> None:
        for tailer in self.tailers.values():
            if head_matches(fd, tailer.gen.fp, tailer.gen.fp_len):
                os.close(fd)  # a copy of a file still read whole: nothing new in it yet
                return
        continued = self._retired.take(fd, self._key(dev_ino))
        if continued is not None:
            old_path, gen = continued
            if gen.anchors and not gen.acks.outstanding:
                gen.anchor_floor = _size(fd)
            log.info(
                "file continues an earlier one (rotated copy): not read again",
                extra={"path": path, "continues": old_path, "offset": gen.resume_at},
            )
            self._track(dev_ino, path, fd, gen)
            return
        self._track(dev_ino, path, fd, new_generation(fd))

    def _track(self, dev_ino: DevIno, path: str, fd: int, gen: Generation) -> None:
        key = self._key(dev_ino)
        tailer = Tailer(
            key, path, fd, self.shipping.max_line_bytes, self.shipping.read_chunk_bytes, gen
        )
        tailer.last_growth = time.monotonic()
        self.tailers[key] = tailer
        log.info("tailing", extra={"path": path, "offset": tailer.read_offset})

    # -- one file ------------------------------------------------------------------

    def check(self, tailer: Tailer, attached: bool, now: float) -> None:
        before = tailer.size
        ended = tailer.refresh()
        if ended is not None:
            self._warn.warning(
                ("truncated", tailer.path),
                "file truncated or rewritten (copytruncate): reading it from 0",
                extra={"path": tailer.path, "size": tailer.size, "offset": ended.resume_at},
            )
            floor = self._forget(tailer)
            if floor is not None:
                ended.resume_at = min(ended.resume_at, floor)
            self._retired.add(tailer.path, ended, tailer.key)
        if tailer.size != before:
            tailer.last_growth = now
        if attached and not tailer.unlinked:
            return
        if tailer.detached_at is None:
            tailer.detached_at = now
            log.info("file rotated away or deleted: draining it", extra={"path": tailer.path})
        # Counted from when it left too: a file long quiet that one scan missed must not
        # be released (and, found again, read from 0) before the next scan sees it.
        since = max(tailer.last_growth, tailer.detached_at)
        quiet = now - since >= self.shipping.rotate_wait_seconds
        if not quiet or tailer.read_offset < tailer.size:
            return
        partial = tailer.reader.take_partial()
        if partial is not None:
            self._flush(tailer, partial, False)
        # No further part of a held docker line can come: ship what was written of it.
        self._flush(tailer, Chunk([], tailer.read_offset, tailer.read_offset), True)
        if tailer.acks.outstanding == 0:
            tailer.close()
            del self.tailers[tailer.key]
            self._forget(tailer)
            # Released whole, not truncated: the same inode coming back (renamed into the
            # glob again) is the same file and continues it.
            self._retired.add(tailer.path, tailer.retire(), None)
            log.info("released drained file", extra={"path": tailer.path})

    # -- state for checkpoints and gauges -------------------------------------------

    def positions(self) -> dict[str, Position]:
        out = {key: tailer.position() for key, tailer in self.tailers.items()}
        out.update(self._retired.positions())
        return out

    def backlog(self) -> int:
        """Bytes that can be shipped and are not acknowledged yet: complete lines read
        and not acknowledged, plus bytes not read yet (a held partial line is neither)."""
        return sum(
            max(0, t.reader.line_end - t.acks.committed) + max(0, t.size - t.read_offset)
            for t in self.tailers.values()
        )

    def held_open(self) -> tuple[int, int]:
        """Bytes of rotated-away and of deleted files still open."""
        rotated = deleted = 0
        for tailer in self.tailers.values():
            if tailer.unlinked:
                deleted += tailer.size
            elif tailer.detached_at is not None:
                rotated += tailer.size
        return rotated, deleted

    def release_all(self) -> None:
        for tailer in self.tailers.values():
            tailer.close()
        self.tailers.clear()


def _size(fd: int) -> int:
    return os.fstat(fd).st_size
