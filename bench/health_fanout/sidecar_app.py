"""The sidecar's health half, in-process under uvicorn, as the benchmark's system under test.

Serves the HealthMonitor's /health plus a /health/live that touches no state, the same
way the sidecar's server mounts them. The full `python -m sidecar run` also tails logs;
this isolates the health fan-out so its cost is what gets measured.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import uvicorn
import yaml
from prometheus_client import CollectorRegistry
from sidecar.health.config import HealthConfig
from sidecar.health.monitor import HealthMonitor
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def build_app(config: HealthConfig) -> Starlette:
    monitor = HealthMonitor(config, CollectorRegistry())

    async def live(request: Request) -> Response:
        return JSONResponse({"status": "pass"}, media_type="application/health+json")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(monitor.run())
        yield
        task.cancel()

    return Starlette(routes=[*monitor.routes(), Route("/health/live", live)], lifespan=lifespan)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", type=Path, required=True, help="YAML with a health: section")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    health = HealthConfig.model_validate(yaml.safe_load(args.config.read_text())["health"])
    uvicorn.run(
        build_app(health), host="127.0.0.1", port=args.port, log_level="warning", access_log=False
    )
