"""What belongs to a file's content rather than to its inode: one generation of a file.

A generation is known by a fingerprint of its first bytes. It carries the acknowledged
offset and the segments still in flight (acks.py), the read-time anchors of lines
without a timestamp, and how far the access-log recorder has observed it. A truncation
(copytruncate) ends a generation; when a file with the same fingerprint turns up (the
rotated copy), it takes the generation over and continues where it stood.

Guarantee: a generation's committed offset only covers lines Loki acknowledged, and a
timestamp-less line gets the same read time however often it is re-sent (the anchor it
was stamped with is persisted before it is sent).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field

from sidecar.shipping.acks import FileAcks

FINGERPRINT_BYTES = 1024
ANCHOR_EVERY_NS = 1_000_000_000


def fingerprint(fd: int, length: int) -> tuple[str, int]:
    """Hash of the file's first `length` bytes (fewer if it is shorter) and their count."""
    head = os.pread(fd, length, 0)
    return hashlib.blake2b(head, digest_size=16).hexdigest(), len(head)


def head_matches(fd: int, digest: str, length: int) -> bool:
    if length == 0:
        return False  # an empty head identifies nothing
    found, found_length = fingerprint(fd, length)
    return found_length == length and found == digest


@dataclass
class Generation:
    fp: str
    fp_len: int
    acks: FileAcks
    # (file offset, ns) pairs: the read time given to timestamp-less lines from that
    # offset on, kept so a re-sent line gets the same timestamp and Loki collapses it.
    anchors: list[tuple[int, int]] = field(default_factory=list)
    # No new anchor below this offset: lines under it may have been sent with an older one.
    anchor_floor: int = 0
    observed: int = 0  # lines before this offset were counted by the access-log recorder
    resume_at: int = 0  # where a reader taking this generation over starts (a line start)
    # The last complete line read and the offset just after its newline: a rotated copy
    # must hold the same line there to take this generation over.
    last_line: bytes = b""
    last_line_end: int = 0

    def continues_in(self, fd: int) -> bool:
        """Whether the file on `fd` holds this generation's content (a rotated copy).

        Its head must match, and where it reaches the last line read, it must hold that
        line there. A copy shorter than that (made before those lines were written) is
        accepted on its head: it holds nothing that was not read already.
        """
        if not head_matches(fd, self.fp, self.fp_len):
            return False
        if not self.last_line or os.fstat(fd).st_size < self.last_line_end:
            return True
        start = self.last_line_end - len(self.last_line) - 1
        return os.pread(fd, len(self.last_line) + 1, start) == self.last_line + b"\n"

    @property
    def committed(self) -> int:
        return self.acks.committed

    def read_time(self, line_start: int, now_ns: int) -> tuple[int, bool]:
        """A stable timestamp for a line without one, and whether a new anchor was made.

        The line's timestamp is anchor time + its distance in bytes from the anchor, in
        ns, so it is the same on every re-send and increases with the offset.
        """
        anchors = self.anchors
        covering: tuple[int, int] | None = None
        for anchor in reversed(anchors):
            if anchor[0] <= line_start:
                covering = anchor
                break
        if covering is None:
            fresh = (line_start, now_ns)
        elif (
            covering is anchors[-1]
            and line_start > covering[0]
            and line_start >= self.anchor_floor
            and now_ns - covering[1] > ANCHOR_EVERY_NS
        ):
            # Never earlier than what the previous anchor gives this offset: keeps order.
            fresh = (line_start, max(now_ns, covering[1] + line_start - covering[0]))
        else:
            return covering[1] + (line_start - covering[0]), False
        anchors.append(fresh)
        anchors.sort()
        return fresh[1], True

    def live_anchors(self) -> list[tuple[int, int]]:
        """Anchors still needed after a restart: those covering unacknowledged lines."""
        committed = self.acks.committed
        keep = [a for a in self.anchors if a[0] >= committed]
        older = [a for a in self.anchors if a[0] < committed]
        if older:
            keep.insert(0, older[-1])
        self.anchors = keep
        return list(keep)
