"""One pure-ASGI middleware per request: request id, the server span, metrics, the access
record, and the global handler of unhandled errors.

Unhandled errors are handled here rather than by Starlette's ServerErrorMiddleware,
which sits outside every user middleware (so metrics and the access log would not
see the 500) and re-raises to the server (which would log the stack a second time).

The server span is made here too, instead of by opentelemetry-instrumentation-fastapi:
that instrumentation matched every route a second time per request to name its span
before the router ran, and wrapped every ASGI message, which cost more per request than
all the rest of the telemetry (bench/service_overhead/README.md). After routing the
template is known, so the span gets its name and `http.route` then. Attributes follow
the stable HTTP server semantic conventions; the context of an incoming `traceparent`
is continued through the configured propagators. Probes and scrapes are not traced.
"""

from __future__ import annotations

import logging
import time

from opentelemetry import context, propagate, trace
from opentelemetry.semconv.attributes import error_attributes, http_attributes, url_attributes
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sample_service.core.errors import error_body, report_unhandled_error
from sample_service.core.metrics import UNMATCHED_ROUTE, ServiceMetrics, normalize_method
from sample_service.core.request_context import request_id_from_header, request_id_var

access_logger = logging.getLogger("sample_service.access")

# Scrapes and probes would drown the real traffic in the trace store.
UNTRACED_PATHS = frozenset({"/metrics", "/health/live", "/health/ready"})


def route_template(scope: Scope) -> str:
    """The matched route's template (set in the scope by the router), never the raw path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED_ROUTE


def _span_attributes(scope: Scope, method: str) -> dict[str, AttributeValue]:
    """The required (and the present conditionally required) attributes of the stable HTTP
    server conventions. The recommended ones (client and server address, user agent,
    protocol version) are left out: every attribute is paid for on every request and again
    when the span is encoded, and the access record has the client address."""
    attributes: dict[str, AttributeValue] = {
        http_attributes.HTTP_REQUEST_METHOD: method,
        url_attributes.URL_SCHEME: scope.get("scheme", "http"),
        url_attributes.URL_PATH: scope["path"],
    }
    if method != scope["method"]:
        attributes[http_attributes.HTTP_REQUEST_METHOD_ORIGINAL] = scope["method"]
    if scope.get("query_string"):
        attributes[url_attributes.URL_QUERY] = scope["query_string"].decode("latin-1")
    return attributes


class RequestMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: ServiceMetrics | None,
        access_log_enabled: bool,
        tracer: trace.Tracer | None = None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log_enabled = access_log_enabled
        self.tracer = tracer
        # The header names the configured propagators (OTEL_PROPAGATORS) read.
        self.propagation_fields = frozenset(
            name.lower().encode("latin-1") for name in propagate.get_global_textmap().fields
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        method = normalize_method(scope["method"])
        span = None
        context_token = None
        request_id_header = None
        propagated = False
        fields = self.propagation_fields
        for key, value in scope["headers"]:
            if key == b"x-request-id":
                request_id_header = value.decode("latin-1")
            elif key in fields:
                propagated = True
        if self.tracer is not None and scope["path"] not in UNTRACED_PATHS:
            # The propagators read only their own headers (traceparent, tracestate,
            # baggage by default): without any, there is no context to continue.
            parent = None
            if propagated:
                parent = propagate.extract(
                    {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
                )
            span = self.tracer.start_span(
                method,
                context=parent,
                kind=SpanKind.SERVER,
                attributes=_span_attributes(scope, method),
            )
            context_token = context.attach(trace.set_span_in_context(span, parent))
        request_id = request_id_from_header(request_id_header)
        request_id_token = request_id_var.set(request_id)
        status = 500
        response_started = False
        # Background tasks run after the body is sent, inside the app call: the request's
        # duration ends with its last body message, as the client sees it.
        finished: float | None = None

        async def send_with_request_id(message: Message) -> None:
            nonlocal status, response_started, finished
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                headers = list(message.get("headers", ()))
                headers.append((b"x-request-id", request_id.encode("latin-1")))
                message["headers"] = headers
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                finished = time.perf_counter()

        if self.metrics is not None:
            self.metrics.active(method).inc()
        try:
            await self.app(scope, receive, send_with_request_id)
        except Exception as exc:
            status = 500
            report_unhandled_error(exc, request_id)
            if response_started:
                raise  # too late for a clean 500: let the server drop the connection
            await send_with_request_id(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send_with_request_id(
                {"type": "http.response.body", "body": error_body("internal error", request_id)}
            )
        finally:
            duration = (finished or time.perf_counter()) - start
            route = route_template(scope)
            trace_id = None
            if span is not None and span.is_recording():
                trace_id = self._finish_span(span, method, route, status)
            if self.metrics is not None:
                self.metrics.active(method).dec()
                self.metrics.observe(method, route, status, duration, trace_id)
            if self.access_log_enabled:
                self._log_access(scope, method, route, status, duration)
            if span is not None:
                started_ns = getattr(span, "start_time", None)
                span.end(started_ns + int(duration * 1e9) if started_ns else None)
            if context_token is not None:
                context.detach(context_token)
            request_id_var.reset(request_id_token)

    @staticmethod
    def _finish_span(span: trace.Span, method: str, route: str, status: int) -> int | None:
        """Name and status of the span after routing; the trace id if it is sampled."""
        if route != UNMATCHED_ROUTE:
            span.update_name(f"{method} {route}")
            span.set_attribute(http_attributes.HTTP_ROUTE, route)
        span.set_attribute(http_attributes.HTTP_RESPONSE_STATUS_CODE, status)
        if status >= 500:
            span.set_attribute(error_attributes.ERROR_TYPE, str(status))
            current = getattr(span, "status", None)
            if current is None or current.is_unset:  # keep an exception's description
                span.set_status(Status(StatusCode.ERROR))
        span_context = span.get_span_context()
        return span_context.trace_id if span_context.trace_flags.sampled else None

    @staticmethod
    def _log_access(scope: Scope, method: str, route: str, status: int, duration: float) -> None:
        client = scope.get("client")
        path = scope["path"]
        access_logger.log(
            logging.ERROR if status >= 500 else logging.INFO,
            "%s %s %d",
            method,
            path,
            status,
            extra={
                "http_request_method": method,
                "http_route": route,
                "url_path": path,
                "http_response_status_code": status,
                "duration_seconds": round(duration, 6),
                "client_address": client[0] if client else None,
            },
        )
