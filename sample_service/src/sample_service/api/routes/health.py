"""GET /health/live and /health/ready (application/health+json; 503 when failing)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from sample_service.api.deps import State
from sample_service.schemas.health import HealthReport
from sample_service.services import health

router = APIRouter(prefix="/health", tags=["health"])

HEALTH_MEDIA_TYPE = "application/health+json"


def _respond(report: HealthReport) -> Response:
    return Response(
        content=report.model_dump_json(by_alias=True, exclude_none=True),
        status_code=503 if report.status == "fail" else 200,
        media_type=HEALTH_MEDIA_TYPE,
        headers={"Cache-Control": "no-store"},
    )


@router.get("/live", response_model=HealthReport)
async def live(state: State) -> Response:
    return _respond(health.liveness(state.settings.service_name))


@router.get(
    "/ready",
    response_model=HealthReport,
    responses={503: {"description": "a dependency failed", "model": HealthReport}},
)
async def ready(state: State) -> Response:
    return _respond(await health.readiness(state.settings.service_name, state.engine, state.cache))
