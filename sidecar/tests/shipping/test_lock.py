"""The positions lock leaves no descriptor behind, however an attempt to take it ends.

(That a second shipper waits for the first is test_isolation.py's
test_one_shipper_per_positions_file.)
"""

from __future__ import annotations

import asyncio
import os

import pytest
from sidecar.shipping.lock import PositionsLock


def _descriptors_on(lock: PositionsLock) -> int:
    """This process's open descriptors on the lock file."""
    count = 0
    for name in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{name}") == str(lock.path)
        except OSError:
            continue  # the descriptor listdir itself used, closed by now
    return count


async def test_a_shipper_stopped_while_waiting_for_the_lock_leaves_no_descriptor_open(tmp_path):
    # service.py cancels the wait when the sidecar is stopped before the shipper that
    # holds the positions file is done.
    holder, waiter = PositionsLock(tmp_path / "p.json"), PositionsLock(tmp_path / "p.json")
    await holder.acquire()
    waiting = asyncio.create_task(waiter.acquire())
    for _ in range(1000):
        if _descriptors_on(holder) == 2:
            break
        await asyncio.sleep(0.01)
    assert _descriptors_on(holder) == 2, "the waiter never opened the lock file"
    assert not waiting.done()
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert _descriptors_on(holder) == 1
    waiter.release()  # a lock it never took: closes nothing, the holder's included
    assert _descriptors_on(holder) == 1
    holder.release()
    assert _descriptors_on(holder) == 0
    await waiter.acquire()  # free again
    waiter.release()
