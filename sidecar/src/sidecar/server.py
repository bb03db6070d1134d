"""The sidecar's HTTP server: /metrics, /health/live, /health/ready and the health routes.

uvicorn runs inside the sidecar's own event loop; its signal handling is disabled so
SIGTERM reaches the sidecar's shutdown (flush, then checkpoint) instead of uvicorn's.

/health/ready is the sidecar's own health (application/health+json): 503 `fail` while a
loop is not running; 200 `warn` with a `shipping:<source>` entry for each stalled
source (it still serves, and a restart would not help) and a `config:services-file`
entry while the services file cannot be used (the last good one runs); else 200 `pass`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator, Mapping, Sequence
from typing import Any

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sidecar.health.healthjson import MEDIA_TYPE
from sidecar.shipping.stall import SourceStatus

# (serving, each source's stall status, other warnings: check name -> why)
Readiness = Callable[[], tuple[bool, Sequence[SourceStatus], Mapping[str, str]]]


def readiness_body(
    ready: bool, sources: Sequence[SourceStatus], warnings: Mapping[str, str]
) -> tuple[int, dict[str, Any]]:
    if not ready:
        return 503, {"status": "fail", "output": "a sidecar loop is not running"}
    checks = {
        f"shipping:{s.source}": [{"status": "warn", "output": s.output}]
        for s in sources
        if s.stalled
    }
    checks.update({name: [{"status": "warn", "output": why}] for name, why in warnings.items()})
    body: dict[str, Any] = {"status": "warn" if checks else "pass"}
    if checks:
        body["checks"] = checks
    return 200, body


def build_app(
    registry: CollectorRegistry, ready: Readiness, extra_routes: Sequence[BaseRoute]
) -> Starlette:
    async def metrics(_: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    async def live(_: Request) -> Response:
        return JSONResponse({"status": "pass"}, media_type=MEDIA_TYPE)

    async def ready_route(_: Request) -> Response:
        status, body = readiness_body(*ready())
        return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE)

    routes: list[BaseRoute] = [
        Route("/metrics", metrics, methods=["GET"]),
        Route("/health/live", live, methods=["GET"]),
        Route("/health/ready", ready_route, methods=["GET"]),
        *extra_routes,
    ]
    return Starlette(routes=routes)


class EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def make_server(app: Starlette, host: str, port: int) -> EmbeddedServer:
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False)
    return EmbeddedServer(config)
