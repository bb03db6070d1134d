"""JSON logging with the fields DESIGN.md fixes, written off the request path.

Every logger propagates to the root logger, whose one handler formats the record with
ServiceJsonFormatter (python-json-logger, orjson) and queues the line
(core/log_pipeline.py); the writer thread writes it to stdout and, with LOG_FILE, to
that file.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

from opentelemetry import trace
from pythonjsonlogger.orjson import OrjsonFormatter

from sample_service.core import log_pipeline
from sample_service.core.request_context import request_id_var
from sample_service.core.scrubbing import scrub_text
from sample_service.core.settings import Settings

# Loggers whose records the service writes itself, or does not want.
_LOGGER_LEVELS = {
    # The app's middleware writes the one access record per request.
    "uvicorn.access": "WARNING",
    "gunicorn.access": "WARNING",
    "httpx": "WARNING",
}


class ServiceJsonFormatter(OrjsonFormatter):
    """One JSON object a line with the DESIGN.md fields, trace and request ids included.

    Formatted in the logging thread (core/log_pipeline.py), where the request's span and
    request id are the current ones.
    """

    def __init__(self, *args: Any, service_name: str = "sample-service", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.service_name = service_name

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        log_data["timestamp"] = f"{seconds}.{int(record.msecs):03d}Z"
        log_data["level"] = record.levelname.lower()
        log_data["logger"] = record.name
        log_data["message"] = record.message
        log_data["service_name"] = self.service_name
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            log_data["trace_id"] = format(span_context.trace_id, "032x")
            log_data["span_id"] = format(span_context.span_id, "016x")
        request_id = request_id_var.get()
        if request_id is not None:
            log_data["request_id"] = request_id
        super().add_fields(log_data, record, message_dict)
        log_data.pop("color_message", None)  # uvicorn's ANSI-coloured duplicate of message

    def formatException(self, ei: Any) -> str:
        # A driver's message can quote the values of a failed statement (core/scrubbing).
        return scrub_text(super().formatException(ei))


def configure_logging(settings: Settings) -> None:
    """JSON to stdout and, when LOG_FILE is set, to that file too, through the pipeline."""
    formatter = ServiceJsonFormatter("%(message)s", service_name=settings.service_name)
    pipeline = log_pipeline.LogPipeline(formatter, sys.stdout, settings.log_file)
    handler = log_pipeline.install(pipeline)
    root = logging.getLogger()
    for old in root.handlers[:]:
        if isinstance(old, log_pipeline.ContextQueueHandler):
            root.removeHandler(old)
    root.addHandler(handler)
    level = settings.log_level.upper()
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "gunicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.setLevel(level)
        logger.propagate = True
    for name, logger_level in _LOGGER_LEVELS.items():
        logging.getLogger(name).setLevel(logger_level)
    for name in ("uvicorn.access", "gunicorn.access"):
        logging.getLogger(name).propagate = False
