"""Waiting, in an event loop, for something the code under test does in its own time.

`await eventually(predicate)` polls until `predicate()` returns a truthy value and
returns that value; past the timeout it fails the test, naming what it waited for.
Polling (not sleeping a guessed time) is also how a test proves an absence: wait for the
event that shows the thing could have happened, then look.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

POLL_SECONDS = 0.02


async def eventually(
    predicate: Callable[[], T], timeout: float = 20.0, what: str = "condition"
) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(POLL_SECONDS)
