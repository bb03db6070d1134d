"""JSON logging via dictConfig and python-json-logger, with the fields DESIGN.md fixes."""

from __future__ import annotations

import logging
import logging.config
import time
from pathlib import Path
from typing import Any

from opentelemetry import trace
from pythonjsonlogger.orjson import OrjsonFormatter

from sample_service.core.request_context import request_id_var
from sample_service.core.settings import Settings

_CACHE_ATTRIBUTE = "_service_json_line"


class ServiceJsonFormatter(OrjsonFormatter):
    """One JSON object a line with the DESIGN.md fields, trace and request ids included."""

    def __init__(self, *args: Any, service_name: str = "sample-service", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.service_name = service_name

    def format(self, record: logging.LogRecord) -> str:
        # stdout and LOG_FILE share this formatter: serialise each record once, not per handler.
        cached = record.__dict__.get(_CACHE_ATTRIBUTE)
        if cached is not None and cached[0] is self:
            return str(cached[1])
        line = super().format(record)
        record.__dict__[_CACHE_ATTRIBUTE] = (self, line)
        return line

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


def logging_config(settings: Settings) -> dict[str, Any]:
    """The dictConfig: JSON to stdout and, when LOG_FILE is set, to that file too."""
    handlers: dict[str, dict[str, Any]] = {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "json",
        }
    }
    if settings.log_file:
        Path(settings.log_file).parent.mkdir(parents=True, exist_ok=True)
        # WatchedFileHandler reopens the file after logrotate moves it; several gunicorn
        # workers append to it safely because each line is one O_APPEND write.
        handlers["file"] = {
            "class": "logging.handlers.WatchedFileHandler",
            "filename": settings.log_file,
            "encoding": "utf-8",
            "formatter": "json",
        }
    level = settings.log_level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {
                "()": ServiceJsonFormatter,
                "fmt": "%(message)s",
                "service_name": settings.service_name,
            }
        },
        "handlers": handlers,
        "root": {"level": level, "handlers": list(handlers)},
        "loggers": {
            # Our middleware writes the one access record per request.
            "uvicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
            "uvicorn.error": {"level": level, "handlers": [], "propagate": True},
            "uvicorn": {"level": level, "handlers": [], "propagate": True},
            "gunicorn.error": {"level": level, "handlers": [], "propagate": True},
            "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
            "httpx": {"level": "WARNING"},
        },
    }


def configure_logging(settings: Settings) -> None:
    logging.config.dictConfig(logging_config(settings))
