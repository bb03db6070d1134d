"""The HTTP routes: the webhook Alertmanager posts to, the inbox, the runbooks, health, metrics.

POST /alerts       Alertmanager webhook JSON: one record per notification (file + page)
POST /heartbeat    the Watchdog's dead-man's switch: counted, not recorded
GET  /             the inbox page;  GET /api/notifications  the same as JSON, newest first
GET  /runbooks/    docs/runbooks/README.md;  GET /runbooks/<Alert>.md  one runbook
GET  /metrics, /health/live, /health/ready
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from oncall import telemetry_contract as contract
from oncall.metrics import InboxMetrics
from oncall.notifications import BadNotification, record, severity_label
from oncall.pages import SECURITY_HEADERS, inbox
from oncall.recordlog import RecordLog
from oncall.runbooks import INDEX, Runbooks
from oncall.settings import Settings

MAX_BODY = 1024 * 1024
NOT_FOUND = "<h1>No such runbook</h1><p><a href='/runbooks/'>All runbooks</a></p>"
log = logging.getLogger("oncall")


class _TooLarge(Exception):
    pass


class HealthResponse(JSONResponse):
    """The health routes' answers, in the contract's media type (application/health+json)."""

    media_type = contract.HEALTH_MEDIA_TYPE


@contextlib.asynccontextmanager
async def _closing(records: RecordLog) -> AsyncIterator[None]:
    try:
        yield
    finally:
        records.close()


async def _body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise _TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _html(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)


def build_app(settings: Settings) -> Starlette:
    metrics = InboxMetrics()
    records = RecordLog(settings.log_file, settings.log_max_bytes, settings.log_backups)
    recent: deque[dict[str, Any]] = deque(records.tail(settings.inbox_size), settings.inbox_size)
    runbooks = Runbooks(settings.runbooks_dir)

    async def receive(request: Request) -> Response:
        try:
            payload = json.loads(await _body(request))
        except _TooLarge:
            metrics.rejected.labels("too_large").inc()
            return JSONResponse({"error": f"body larger than {MAX_BODY} bytes"}, 413)
        except ValueError:
            metrics.rejected.labels("not_json").inc()
            return JSONResponse({"error": "body is not JSON"}, 400)
        try:
            entry = record(payload, time.time())
        except BadNotification as exc:
            metrics.rejected.labels("bad_shape").inc()
            return JSONResponse({"error": f"not an Alertmanager notification: {exc}"}, 400)
        try:
            await run_in_threadpool(records.write, entry)
        except OSError as exc:
            # Alertmanager retries a 5xx: the notification is not lost, only late.
            metrics.write_errors.inc()
            log.error("inbox: cannot write %s: %s", settings.log_file, exc)
            return JSONResponse({"error": "cannot record the notification; retry"}, 503)
        recent.append(entry)
        metrics.notifications.labels(
            metrics.receiver_label(entry["receiver"]), entry["status"]
        ).inc()
        for alert in entry["alerts"]:
            severity = severity_label(alert["labels"].get("severity", ""))
            metrics.alerts.labels(severity, alert["status"]).inc()
        log.info("inbox: %s", entry["message"])
        return JSONResponse({"status": "recorded", "request_id": entry["request_id"]})

    async def heartbeat(request: Request) -> Response:
        try:
            await _body(request)
        except _TooLarge:
            metrics.rejected.labels("too_large").inc()
            return JSONResponse({"error": f"body larger than {MAX_BODY} bytes"}, 413)
        metrics.heartbeats.inc()
        metrics.last_heartbeat.set(time.time())
        return JSONResponse({"status": "alive"})

    async def inbox_page(_: Request) -> Response:
        return _html(inbox(list(recent)))

    async def notifications(_: Request) -> Response:
        return JSONResponse(list(reversed(recent)))

    async def runbook(request: Request) -> Response:
        name = request.path_params.get("name") or INDEX
        rendered = await run_in_threadpool(runbooks.render, name)
        if rendered is None:
            return _html(
                "<h1>No such runbook</h1><p><a href='/runbooks/'>All runbooks</a></p>", 404
            )
        return _html(rendered)

    async def metrics_route(_: Request) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def live(_: Request) -> Response:
        return HealthResponse({"status": "pass"})

    async def ready(_: Request) -> Response:
        problems = []
        if not records.writable():
            problems.append(f"cannot write records to {settings.log_file}")
        if not runbooks.readable():
            problems.append(f"no runbooks in {settings.runbooks_dir}")
        if problems:
            return HealthResponse({"status": "fail", "output": "; ".join(problems)}, 503)
        return HealthResponse({"status": "pass"})

    app = Starlette(
        routes=[
            Route("/alerts", receive, methods=["POST"]),
            Route("/heartbeat", heartbeat, methods=["POST"]),
            Route("/", inbox_page, methods=["GET"]),
            Route("/api/notifications", notifications, methods=["GET"]),
            Route("/runbooks/", runbook, methods=["GET"]),
            Route("/runbooks/{name}", runbook, methods=["GET"]),
            Route("/metrics", metrics_route, methods=["GET"]),
            Route("/health/live", live, methods=["GET"]),
            Route("/health/ready", ready, methods=["GET"]),
        ],
        lifespan=lambda _: _closing(records),
    )
    app.state.metrics = metrics
    return app
