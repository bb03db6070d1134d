"""The sidecar's own logs: JSON lines on stdout with the DESIGN.md field names."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from sidecar.metrics import SELF_SERVICE_NAME


class _Formatter(JsonFormatter):
    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        log_data["timestamp"] = f"{whole}.{int(record.msecs):03d}Z"
        log_data["level"] = record.levelname.lower()
        log_data["logger"] = record.name
        log_data["service_name"] = SELF_SERVICE_NAME
        super().add_fields(log_data, record, message_dict)
        # uvicorn adds an ANSI-coloured copy of its message; JSON readers do not want it.
        log_data.pop("color_message", None)


def configure(level: str) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(_Formatter("%(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's access log would be one line per scrape: noise, not signal.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
