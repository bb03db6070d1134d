"""What happens to an unhandled error: logged with its stack, recorded on the span,
sent to Sentry, and answered with a JSON 500 that carries the request id."""

from __future__ import annotations

import logging

import orjson
import sentry_sdk
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

logger = logging.getLogger("sample_service.errors")


def report_unhandled_error(exc: BaseException, request_id: str) -> None:
    logger.error("unhandled error: %s", type(exc).__name__, exc_info=exc)
    span = trace.get_current_span()
    if span.is_recording():
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
    # Inert unless SENTRY_DSN initialised the SDK.
    with sentry_sdk.new_scope() as scope:
        scope.set_tag("request_id", request_id)
        sentry_sdk.capture_exception(exc)


def error_body(detail: str, request_id: str | None) -> bytes:
    return orjson.dumps({"detail": detail, "request_id": request_id})
