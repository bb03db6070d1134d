"""A generation's read times: a line re-read below the newest anchor keeps its own."""

from __future__ import annotations

from sidecar.shipping.acks import FileAcks
from sidecar.shipping.generation import ANCHOR_EVERY_NS, Generation


def test_a_line_re_read_below_the_newest_anchor_gets_the_read_time_of_the_one_covering_it():
    # After a restart the checkpoint's anchors cover lines that may have been sent
    # already; re-read from the acknowledged offset, a line before the newest anchor must
    # get the time it was sent with, from the anchor at or before it.
    anchors = [(0, 1_000), (100, 5_000_000_000)]
    # The file was 200 bytes at the restart: no new anchor below that (resumed_generation).
    gen = Generation("fp", 1, FileAcks(0), anchors=list(anchors), anchor_floor=200)
    later = 5_000_000_000 + 10 * ANCHOR_EVERY_NS
    assert gen.read_time(40, now_ns=later) == (1_040, False)
    assert gen.read_time(120, now_ns=later) == (5_000_000_020, False)
    assert gen.anchors == anchors
