"""Timestamps taken from log records, as integer nanoseconds since the epoch (UTC).

Guarantee: every value returned is one Loki can store, 0 <= ns <= 2**63 - 1 (Loki keeps
int64 nanoseconds); anything else (before 1970, past 2262, NaN, infinity) is None, which
the caller counts as bad_timestamp and replaces with the line's read time.
"""

from __future__ import annotations

import calendar
import math
import re
from datetime import UTC, datetime

_NS = 1_000_000_000
# Second-resolution prefixes repeat for every line written in the same second; caching
# them makes the per-line parse a dict lookup and a few slices.
_prefix_cache: dict[str, int] = {}
_PREFIX_CACHE_MAX = 4096
_FRACTION = re.compile(r"[.,](\d+)")
MAX_NS = 2**63 - 1


def storable(ns: int) -> int | None:
    """`ns` if Loki can store it, else None."""
    return ns if 0 <= ns <= MAX_NS else None


def parse_rfc3339(value: str) -> int | None:
    """`2026-11-25T16:45:07.123Z` (any fraction, Z or +hh:mm) -> ns; None if unparseable."""
    if len(value) == 24 and value[19] == "." and value[23] == "Z":
        # The log contract's own format (milliseconds, UTC): the hot path, kept short.
        seconds = _prefix_cache.get(value[:19])
        millis = value[20:23]
        if seconds is not None and millis.isdigit():
            ns = seconds * _NS + int(millis) * 1_000_000
            return ns if 0 <= ns <= MAX_NS else None  # storable(), inline on the hot path
    if len(value) >= 20 and value[10] in "Tt ":
        seconds = _prefix_cache.get(value[:19])
        if seconds is None:
            seconds = _prefix_seconds(value[:19])
        if seconds is not None:
            nanos, rest = _fraction(value, 19)
            offset = _offset_seconds(rest)
            if offset is not None:
                return storable((seconds - offset) * _NS + nanos)
    return _parse_iso(value)


def _prefix_seconds(prefix: str) -> int | None:
    try:
        parsed = datetime.strptime(prefix.replace("t", "T").replace(" ", "T"), "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return None
    seconds = calendar.timegm(parsed.timetuple())
    if len(_prefix_cache) >= _PREFIX_CACHE_MAX:
        _prefix_cache.clear()
    _prefix_cache[prefix] = seconds
    return seconds


def _fraction(value: str, start: int) -> tuple[int, str]:
    match = _FRACTION.match(value, start)
    if match is None:
        return 0, value[start:]
    digits = match.group(1)
    return int((digits + "000000000")[:9]), value[match.end() :]


def _offset_seconds(rest: str) -> int | None:
    if rest in ("Z", "z"):
        return 0
    if len(rest) == 6 and rest[0] in "+-" and rest[3] == ":" and rest[1:3].isdigit():
        minutes = rest[4:6]
        if not minutes.isdigit():
            return None
        sign = 1 if rest[0] == "+" else -1
        return sign * (int(rest[1:3]) * 3600 + int(minutes) * 60)
    return None


def _parse_iso(value: str) -> int | None:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return from_datetime(parsed)


def from_datetime(parsed: datetime) -> int | None:
    if parsed.tzinfo is None:
        # A zone-less timestamp is read as UTC: the log contract (contract/README.md) writes UTC.
        parsed = parsed.replace(tzinfo=UTC)
    try:
        delta = parsed - datetime(1970, 1, 1, tzinfo=UTC)
    except OverflowError:  # pragma: no cover - a timedelta holds the gap of any two datetimes
        return None
    return storable((delta.days * 86400 + delta.seconds) * _NS + delta.microseconds * 1000)


def parse_epoch(value: float) -> int | None:
    """Epoch seconds, milliseconds, microseconds or nanoseconds, told apart by magnitude."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value <= 0:  # not after the epoch
        return None
    if value < 1e11:
        return storable(int(value * _NS))
    if value < 1e14:
        return storable(int(value * 1_000_000))
    if value < 1e17:
        return storable(int(value * 1000))
    return storable(int(value))


def parse_with_format(value: str, fmt: str) -> int | None:
    try:
        return from_datetime(datetime.strptime(value, fmt))
    except (ValueError, OverflowError):
        return None
