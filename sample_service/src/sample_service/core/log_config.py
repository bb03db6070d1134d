"""JSON logging with the fields the telemetry contract fixes, written off the request path.

Every logger propagates to the root logger, whose one handler formats the record with
ServiceJsonFormatter and queues the line (core/log_pipeline.py); the writer thread
writes it to stdout and, with LOG_FILE, to that file.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import orjson
from opentelemetry import trace

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
# A record's own attributes; any other attribute came from `extra=` and becomes a field.
_RECORD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's ANSI-coloured duplicate of message
}


class ServiceJsonFormatter(logging.Formatter):
    """One JSON object a line (orjson): `timestamp` (RFC 3339, UTC, ms), `level`, `logger`,
    `message`, `service_name`, `trace_id` and `span_id` of the current span, `request_id`,
    then the record's `extra=` fields, and `exc_info` (scrubbed) with an exception.

    Formatted in the logging thread (core/log_pipeline.py), where the request's span and
    request id are the current ones. Written for the access record's cost, which is paid
    on every request: python-json-logger took 3.9 us a record against 1.5 us for this
    (bench/service_overhead/README.md).
    """

    def __init__(self, service_name: str = "sample-service") -> None:
        super().__init__()
        self.service_name = service_name
        # (second, its RFC 3339 text): strftime once a second, not once a record. One tuple,
        # replaced whole, so threads formatting at once never pair a second with another's
        # text.
        self._second: tuple[int, str] = (-1, "")

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
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            line["trace_id"] = format(span_context.trace_id, "032x")
            line["span_id"] = format(span_context.span_id, "016x")
        request_id = request_id_var.get()
        if request_id is not None:
            line["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRIBUTES and key[:1] != "_":
                line[key] = value
        if record.exc_info:
            # A driver's message can quote the values of a failed statement (core/scrubbing).
            line["exc_info"] = scrub_text(self.formatException(record.exc_info))
        elif record.exc_text:
            line["exc_info"] = scrub_text(record.exc_text)
        if record.stack_info:
            line["stack_info"] = self.formatStack(record.stack_info)
        return orjson.dumps(line, default=str).decode()


def configure_logging(settings: Settings) -> None:
    """JSON to stdout and, when LOG_FILE is set, to that file too, through the pipeline."""
    # No record field the service writes comes from these, and logging would look them up
    # for every record: the caller's file and line (a stack walk), thread, process and
    # task names (the "Optimization" section of the logging documentation).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging.logAsyncioTasks = False  # type: ignore[attr-defined]  # Python 3.12+; harmless before
    formatter = ServiceJsonFormatter(service_name=settings.service_name)
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
