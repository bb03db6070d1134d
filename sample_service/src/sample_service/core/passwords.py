"""Password hashing with Argon2id (pwdlib over argon2-cffi), bounded per process.

Each Argon2 hash holds its memory cost (19 MiB with OWASP's minimum parameters, 64 MiB
with argon2-cffi's defaults, which older hashes carry) for its whole run. Unbounded,
concurrent wrong-password logins grew one process past a gigabyte, so:
- hashes run on a pool of exactly `concurrency` threads of their own, so at most that
  many run at once, and the C allocator's per-thread arenas that keep freed hash memory
  exist for those threads only (the event loop's default pool has up to 40 threads);
- a request waits for a free slot at most `wait_seconds`, then gets HashingBusyError (503
  with Retry-After) instead of queueing without bound;
- a slot is freed when its hash ends, not when its request gives up, so a disconnecting
  client cannot start more hashes than there are slots.
New hashes use OWASP's current minimum for Argon2id (m=19 MiB, t=2, p=1); a hash made
with other parameters is replaced at the next successful login (`verify_and_update`).
"""

from __future__ import annotations

import asyncio
import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypedDict

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher


class _Argon2Parameters(TypedDict):
    memory_cost: int
    time_cost: int
    parallelism: int


# OWASP Password Storage Cheat Sheet, Argon2id: m=19456 KiB, t=2, p=1.
ARGON2ID_PARAMETERS: _Argon2Parameters = {"memory_cost": 19_456, "time_cost": 2, "parallelism": 1}


class HashingBusyError(Exception):
    """Every hashing slot stayed busy for the whole wait; answered with 503."""

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__("password hashing is at capacity")
        self.retry_after_seconds = retry_after_seconds


class PasswordHasher:
    def __init__(self, concurrency: int, wait_seconds: float) -> None:
        self._hash = PasswordHash((Argon2Hasher(**ARGON2ID_PARAMETERS),))
        self._slots = asyncio.Semaphore(concurrency)
        self._wait_seconds = wait_seconds
        self._concurrency = concurrency
        self._executor: ThreadPoolExecutor | None = None  # started at first use
        self._dummy_hash: str | None = None

    async def hash(self, password: str) -> str:
        result: str = await self._run(self._hash.hash, password)
        return result

    async def verify_and_update(self, password: str, password_hash: str) -> tuple[bool, str | None]:
        """Whether the password matches, and a new hash when the stored one is outdated."""
        result: tuple[bool, str | None] = await self._run(
            self._hash.verify_and_update, password, password_hash
        )
        return result

    async def verify_unknown_user(self, password: str) -> None:
        """Spend what a real verification costs, so answer times do not reveal which
        e-mail addresses are registered."""
        if self._dummy_hash is None:
            self._dummy_hash = await self.hash("not-a-real-password")
        await self._run(self._hash.verify, password, self._dummy_hash)

    def close(self) -> None:
        """Stop the threads; a later hash starts them again (an app's lifespan may rerun)."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    async def _run(self, function: Any, *args: Any) -> Any:
        try:
            await asyncio.wait_for(self._slots.acquire(), self._wait_seconds)
        except TimeoutError:
            raise HashingBusyError(math.ceil(self._wait_seconds)) from None
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                self._concurrency, thread_name_prefix="password-hash"
            )
        try:
            job = asyncio.get_running_loop().run_in_executor(self._executor, function, *args)
        except BaseException:
            self._slots.release()
            raise
        job.add_done_callback(lambda _: self._slots.release())
        # Shielded: a cancelled request stops waiting, the hash finishes and frees the slot.
        return await asyncio.shield(job)
