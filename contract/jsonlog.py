"""The one JSON log formatter of the stack's programs: one object a line, with the log
record fields of the telemetry contract (contract/README.md, "Log records").

`python -m contract` copies this file, unchanged but for a first line saying so, into
each package that logs (contract/modules.py, COPIES): their images are built from their
own folders, so they cannot import it from here, and each installs only orjson for it.
tests/contract_checks fails while a copy is stale. A program adds its own fields by
subclassing: `context` for fields of the moment (the current span, the request), `scrub`
for exception text that may quote secrets.

Written for the cost paid on every request's access record (orjson, the second's text
made once a second): bench/service_overhead/README.md has the figures.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson

# A record's own attributes; any other attribute came from `extra=` and becomes a field.
RECORD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's ANSI-coloured duplicate of message
}


class JsonLineFormatter(logging.Formatter):
    """`timestamp` (RFC 3339, UTC, ms), `level` (lower case), `logger`, `message`,
    `service_name`, then what `context` adds, the record's `extra=` fields (not those
    starting with _), `exc_info` (through `scrub`) and `stack_info`."""

    def __init__(self, service_name: str) -> None:
        super().__init__()
        self.service_name = service_name
        # (second, its RFC 3339 text): strftime once a second, not once a record. One
        # tuple, replaced whole, so threads formatting at once never pair a second with
        # another's text.
        self._second: tuple[int, str] = (-1, "")

    def context(self, line: dict[str, Any]) -> None:
        """Add the fields of the moment the record is formatted in (none here)."""

    def scrub(self, text: str) -> str:
        """Exception text as it may be written (unchanged here)."""
        return text

    def format(self, record: logging.LogRecord) -> str:
        second, text = self._second
        if int(record.created) != second:
            second = int(record.created)
            text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = (second, text)
        line: dict[str, Any] = {
            "timestamp": f"{text}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "service_name": self.service_name,
        }
        self.context(line)
        for key, value in record.__dict__.items():
            if key not in RECORD_ATTRIBUTES and key[:1] != "_":
                line[key] = value
        if record.exc_info:
            line["exc_info"] = self.scrub(self.formatException(record.exc_info))
        elif record.exc_text:
            line["exc_info"] = self.scrub(record.exc_text)
        if record.stack_info:
            line["stack_info"] = self.formatStack(record.stack_info)
        return orjson.dumps(line, default=str).decode()
