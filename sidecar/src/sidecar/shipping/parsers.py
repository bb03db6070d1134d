"""Turn one decoded line into what Loki needs: level, timestamp, metadata, the line itself.

Each parser returns a `Parsed` (entries.py). Guarantee: a parser never raises on any
input string; whatever it cannot read is shipped raw and named in `malformed`, and a
timestamp it returns is always one Loki can store (timestamps.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from sidecar.shipping.config import SourceConfig
from sidecar.shipping.entries import Metadata, Parsed
from sidecar.shipping.timestamps import parse_epoch, parse_rfc3339, parse_with_format
from sidecar.telemetry_contract import STRUCTURED_METADATA

UNKNOWN_LEVEL = "unknown"
NOT_JSON = "not_json"
NOT_DOCKER_JSON = "not_docker_json"
BAD_TIMESTAMP = "bad_timestamp"
# The malformed reasons each source format's parser can report.
MALFORMED_REASONS = {
    "json": (NOT_JSON, BAD_TIMESTAMP),
    "docker": (NOT_DOCKER_JSON, BAD_TIMESTAMP),
    "text": (BAD_TIMESTAMP,),
}
# Levels become a stream label, so unknown spellings collapse to one value.
KNOWN_LEVELS = frozenset(
    {"trace", "debug", "info", "notice", "warn", "warning", "error", "critical", "fatal", "panic"}
)


# Parsed built in C (tuple.__new__) on the per-line path: a NamedTuple's own __new__ is a
# Python function (its cost: bench/log_shipping/README.md, "Named types").
_new = tuple.__new__

# trace_id/span_id longer than this are not ids (W3C: 32 and 16 hex digits); they stay in
# the line but are not sent as structured metadata, whose size Loki limits per entry.
MAX_ID_LENGTH = 128
# The structured metadata keys the ids are sent under.
TRACE_KEY, SPAN_KEY = STRUCTURED_METADATA

_LEVEL_CACHE: dict[str, str] = {}


def normalise_level(value: object) -> str:
    if isinstance(value, str):
        cached = _LEVEL_CACHE.get(value)
        if cached is not None:
            return cached
        lowered = value.lower()
        level = lowered if lowered in KNOWN_LEVELS else UNKNOWN_LEVEL
        if len(_LEVEL_CACHE) < 1024:  # bounded: level spellings are few, garbage is not
            _LEVEL_CACHE[value] = level
        return level
    return UNKNOWN_LEVEL


def _epoch_timestamp(value: object) -> int | None:
    """A record's numeric timestamp (from_record reads a string one itself)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return parse_epoch(value)
    return None


class JsonParser:
    def __init__(self, source: SourceConfig) -> None:
        fields = source.json_fields
        self._ts, self._level = fields.timestamp, fields.level
        self._trace, self._span = fields.trace_id, fields.span_id
        self._fallback = TextParser(source)

    def __call__(self, line: str) -> Parsed:
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            record = None
        if type(record) is not dict:
            parsed = self._fallback(line)
            return Parsed(line, parsed.level, parsed.ts, None, None, NOT_JSON)
        return self.from_record(line, record)

    def from_record(self, line: str, record: dict[str, Any]) -> Parsed:
        trace = record.get(self._trace)
        span = record.get(self._span)
        meta: Metadata | None = None
        if trace or span:
            if (
                type(trace) is str
                and type(span) is str
                and 0 < len(trace) <= MAX_ID_LENGTH
                and 0 < len(span) <= MAX_ID_LENGTH
            ):
                meta = ((TRACE_KEY, trace), (SPAN_KEY, span))
            else:
                pairs = []
                if isinstance(trace, str) and 0 < len(trace) <= MAX_ID_LENGTH:
                    pairs.append((TRACE_KEY, trace))
                if isinstance(span, str) and 0 < len(span) <= MAX_ID_LENGTH:
                    pairs.append((SPAN_KEY, span))
                meta = tuple(pairs) or None
        stamp = record.get(self._ts)
        if type(stamp) is str:
            ts = parse_rfc3339(stamp)
        else:
            ts = _epoch_timestamp(stamp) if stamp is not None else None
        return _new(
            Parsed,
            (
                line,
                normalise_level(record.get(self._level)),
                ts,
                meta,
                record,
                BAD_TIMESTAMP if stamp is not None and ts is None else None,
            ),
        )


class TextParser:
    def __init__(self, source: SourceConfig) -> None:
        text = source.text
        self._level = re.compile(text.level_pattern) if text.level_pattern else None
        self._ts = re.compile(text.timestamp_pattern) if text.timestamp_pattern else None
        self._fmt = text.timestamp_format

    def __call__(self, line: str) -> Parsed:
        level = UNKNOWN_LEVEL
        if self._level is not None:
            match = self._level.search(line)
            if match:
                level = normalise_level(match.group("level"))
        ts = None
        malformed = None
        if self._ts is not None:
            match = self._ts.search(line)
            if match:
                raw = match.group("timestamp")
                ts = parse_with_format(raw, self._fmt) if self._fmt else parse_rfc3339(raw)
                if ts is None:
                    malformed = BAD_TIMESTAMP
        return Parsed(line, level, ts, None, None, malformed)


@dataclass(frozen=True, slots=True)
class DockerRecord:
    """One json-file record: {"log": "...\\n", "stream": "stdout", "time": "..."}."""

    log: str  # as written, with its newline if it has one
    stream: str
    time_ns: int | None

    @property
    def complete(self) -> bool:
        """False for every part but the last of a line Docker split (it has no newline)."""
        return self.log.endswith("\n")


def unwrap_docker(line: str) -> DockerRecord | None:
    """The json-file record on this line, or None if it is not one."""
    try:
        outer = orjson.loads(line)
        inner = outer["log"]
        time_ns = parse_rfc3339(outer["time"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None
    if not isinstance(inner, str):
        inner = str(inner)
    return DockerRecord(inner, str(outer.get("stream", "")), time_ns)


class DockerParser:
    """Docker's json-file driver: the inner line is parsed as JSON when it is an object,
    else as text; its own timestamp wins over Docker's receive time. Lines Docker split
    into several records are rejoined before they get here (see docker_partials.py).
    """

    def __init__(self, source: SourceConfig) -> None:
        self._json = JsonParser(source)
        self._text = TextParser(source)

    def __call__(self, line: str) -> Parsed:
        record = unwrap_docker(line)
        if record is None:
            parsed = self._text(line)
            return Parsed(line, parsed.level, parsed.ts, None, None, NOT_DOCKER_JSON)
        return self.inner(record.log.removesuffix("\n"), record.time_ns)

    def inner(self, inner: str, docker_time: int | None, *, as_text: bool = False) -> Parsed:
        """The container's own line (without its newline); as_text for a truncated one."""
        parsed: Parsed | None = None
        if not as_text and inner.startswith("{"):
            try:
                record = orjson.loads(inner)
            except orjson.JSONDecodeError:
                record = None
            if type(record) is dict:
                parsed = self._json.from_record(inner, record)
        if parsed is None:
            parsed = self._text(inner)
        if parsed.ts is None:
            return parsed._replace(line=inner, ts=docker_time)
        return parsed


def make_parser(source: SourceConfig) -> Callable[[str], Parsed]:
    if source.format == "json":
        return JsonParser(source)
    if source.format == "docker":
        return DockerParser(source)
    return TextParser(source)
