"""Which paths a source may tail: globs, excludes, allowed roots, regular files only.

Guarantee: a path is offered for tailing only if, with every symlink resolved, it is a
regular file under one of the source's allowed roots and not on /proc, /sys or /dev.
Everything else that a glob matches is refused, counted under a reason
(`sidecar_log_files_refused_total`) and logged once per file (10,000 are remembered;
past that the memory starts over and they are counted again). Opening goes through the
resolved path with O_NOFOLLOW and O_NONBLOCK and checks the inode again, so a path
swapped for a symlink or a FIFO in between is refused rather than followed or waited on;
a file the sidecar's user may not read is refused as `unreadable` (counted and logged
once, and tailed once it becomes readable); any other failure to open is logged at most
once a minute, not at every scan. A file that several matched paths lead to (hard links,
overlapping globs) is offered once, under the first found (globs in `paths` order).
"""

from __future__ import annotations

import fnmatch
import glob
import logging
import os
import stat
from collections.abc import Callable

from sidecar.logs import Throttled
from sidecar.shipping.config import SourceConfig

log = logging.getLogger(__name__)

OUTSIDE_ROOTS = "outside_roots"
NOT_REGULAR = "not_regular"
PSEUDO_FS = "pseudo_fs"
UNREADABLE = "unreadable"
REFUSED_REASONS = (OUTSIDE_ROOTS, NOT_REGULAR, PSEUDO_FS, UNREADABLE)
_PSEUDO_ROOTS = ("/proc", "/sys", "/dev")
_REMEMBERED_REFUSALS = 10_000  # bounds the set that keeps refusals logged once per file

DevIno = tuple[int, int]


def _pseudo_devices() -> frozenset[int]:
    devices = set()
    for root in _PSEUDO_ROOTS:
        try:
            devices.add(os.stat(root).st_dev)
        except OSError:
            continue
    return frozenset(devices)


def _identity(info: os.stat_result) -> DevIno:
    return (info.st_dev, info.st_ino)


def _under(path: str, roots: list[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


class Discovery:
    def __init__(self, source: SourceConfig, count_refusal: Callable[[str], None]) -> None:
        self.source = source
        self.roots = source.roots()
        self._count = count_refusal
        self._pseudo_devices = _pseudo_devices()
        self._refused: set[tuple[str, DevIno | None]] = set()
        self._errors = Throttled(log, 60.0)

    def scan(self, known: set[DevIno]) -> dict[DevIno, str]:
        """Tailable files by identity: known ones as found, new ones once checked."""
        found: dict[DevIno, str] = {}
        for pattern in self.source.paths:
            for path in glob.glob(pattern):
                if any(fnmatch.fnmatch(path, ex) for ex in self.source.exclude):
                    continue
                try:
                    info = os.stat(path)
                except OSError:
                    continue  # vanished between glob and stat, or a dangling link
                dev_ino = _identity(info)
                if dev_ino in found:
                    continue
                if dev_ino in known or self._allowed(path, info):
                    found[dev_ino] = path
        return found

    def _allowed(self, path: str, info: os.stat_result) -> bool:
        real = os.path.realpath(path)
        if stat.S_ISDIR(info.st_mode):
            return False  # globs often match directories on the way; not worth a refusal
        if not stat.S_ISREG(info.st_mode):
            return self._refuse(path, _identity(info), NOT_REGULAR)
        if info.st_dev in self._pseudo_devices or _under(real, list(_PSEUDO_ROOTS)):
            return self._refuse(path, _identity(info), PSEUDO_FS)
        if not _under(real, self.roots):
            return self._refuse(path, _identity(info), OUTSIDE_ROOTS, resolved=real)
        return True

    def _refuse(self, path: str, dev_ino: DevIno, reason: str, resolved: str = "") -> bool:
        key = (path, dev_ino)
        if key not in self._refused:
            if len(self._refused) >= _REMEMBERED_REFUSALS:
                self._refused.clear()
            self._refused.add(key)
            self._count(reason)
            log.warning(
                "not tailing a matched path",
                extra={
                    "source": self.source.name,
                    "path": path,
                    "resolved": resolved or os.path.realpath(path),
                    "reason": reason,
                    "allowed_roots": self.roots,
                },
            )
        return False

    def open(self, path: str, dev_ino: DevIno) -> int | None:
        """An fd on the regular file `dev_ino` at `path`, or None (logged, never raises)."""
        real = os.path.realpath(path)
        flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK
        try:
            fd = os.open(real, flags)
        except PermissionError:
            self._refuse(path, dev_ino, UNREADABLE)
            return None
        except OSError as exc:
            extra = {"path": path, "error": exc.strerror}
            self._errors.log(logging.ERROR, path, "cannot open log file", extra)
            return None
        info = os.fstat(fd)
        if _identity(info) != dev_ino or not stat.S_ISREG(info.st_mode):
            os.close(fd)  # replaced between stat and open; the next scan looks again
            return None
        return fd
