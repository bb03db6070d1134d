"""JSON logging with the fields the telemetry contract fixes, written off the request path.

Every logger propagates to the root logger, whose one handler formats the record with
ServiceJsonFormatter and queues the line (core/log_pipeline.py); the writer thread
writes it to stdout and, with LOG_FILE, to that file.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from opentelemetry import trace

from sample_service.core import log_pipeline
from sample_service.core.jsonlog import JsonLineFormatter
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


class ServiceJsonFormatter(JsonLineFormatter):
    """The stack's JSON line formatter (core/jsonlog.py, a copy of contract/jsonlog.py)
    with the service's fields of the moment: `trace_id` and `span_id` of the current
    span and the `request_id`; exception text scrubbed of bound values and credentials.

    Formatted in the logging thread (core/log_pipeline.py), where the request's span and
    request id are the current ones.
    """

    def __init__(self, service_name: str = "sample-service") -> None:
        super().__init__(service_name)

    def context(self, line: dict[str, Any]) -> None:
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            line["trace_id"] = format(span_context.trace_id, "032x")
            line["span_id"] = format(span_context.span_id, "016x")
        request_id = request_id_var.get()
        if request_id is not None:
            line["request_id"] = request_id

    def scrub(self, text: str) -> str:
        # A driver's message can quote the values of a failed statement (core/scrubbing).
        return scrub_text(text)


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
