"""One pure-ASGI middleware per request: request id, metrics, the access record, and the
global handler of unhandled errors.

Unhandled errors are handled here rather than by Starlette's ServerErrorMiddleware,
which sits outside every user middleware (so metrics and the access log would not
see the 500) and re-raises to the server (which would log the stack a second time).
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sample_service.core.errors import error_body, report_unhandled_error
from sample_service.core.metrics import UNMATCHED_ROUTE, ServiceMetrics, normalize_method
from sample_service.core.request_context import request_id_from_header, request_id_var

access_logger = logging.getLogger("sample_service.access")


def route_template(scope: Scope) -> str:
    """The matched route's template (set in the scope by the router), never the raw path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED_ROUTE


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


class RequestMiddleware:
    def __init__(
        self, app: ASGIApp, *, metrics: ServiceMetrics | None, access_log_enabled: bool
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log_enabled = access_log_enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        request_id = request_id_from_header(_header(scope, b"x-request-id"))
        token = request_id_var.set(request_id)
        method = normalize_method(scope["method"])
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
            self.metrics.active_requests.labels(method).inc()
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
            if self.metrics is not None:
                self.metrics.active_requests.labels(method).dec()
                self.metrics.observe(method, route, status, duration)
            if self.access_log_enabled:
                self._log_access(scope, method, route, status, duration)
            request_id_var.reset(token)

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
