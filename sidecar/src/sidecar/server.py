"""The sidecar's HTTP server: /metrics, /health/live, /health/ready and the health routes.

uvicorn runs inside the sidecar's own event loop; its signal handling is disabled so
SIGTERM reaches the sidecar's shutdown (flush, then checkpoint) instead of uvicorn's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator, Sequence

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route


def build_app(
    registry: CollectorRegistry, ready: Callable[[], bool], extra_routes: Sequence[BaseRoute]
) -> Starlette:
    async def metrics(_: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    async def live(_: Request) -> Response:
        return JSONResponse({"status": "pass"})

    async def ready_route(_: Request) -> Response:
        if ready():
            return JSONResponse({"status": "pass"})
        return JSONResponse({"status": "fail"}, status_code=503)

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
