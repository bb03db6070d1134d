"""The request id of the request being served, readable anywhere in its task."""

from __future__ import annotations

import random
import re
from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

# A caller-supplied X-Request-ID is kept only if it cannot pollute logs.
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def request_id_from_header(value: str | None) -> str:
    """The caller's X-Request-ID if it is safe to log, else a fresh one."""
    if value and _SAFE_REQUEST_ID.match(value):
        return value
    # 128 random bits in 32 hex characters, like uuid4().hex. From the Mersenne Twister,
    # not os.urandom: an id needs to be unique, not secret, and the getrandom() call
    # releases the GIL, which the span exporter's thread then holds while the request
    # waits for it back (seen in bench/service_overhead's profiles). `random` is reseeded
    # in each forked gunicorn worker.
    return f"{random.getrandbits(128):032x}"
