"""GET /health/live and /health/ready (application/health+json; 503 when failing)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from sample_service import telemetry_contract as contract
from sample_service.api.deps import State
from sample_service.api.responses import Responses
from sample_service.schemas.health import HealthReport
from sample_service.services import health


class HealthResponse(JSONResponse):
    """Tells the OpenAPI schema (and the client) the media type: application/health+json."""

    media_type = contract.HEALTH_MEDIA_TYPE


router = APIRouter(prefix="/health", tags=["health"], default_response_class=HealthResponse)


def _respond(report: HealthReport) -> Response:
    return Response(
        content=report.model_dump_json(by_alias=True, exclude_none=True),
        status_code=503 if report.status == "fail" else 200,
        media_type=HealthResponse.media_type,
        headers={"Cache-Control": "no-store"},
    )


# Documented with the route's media type, application/health+json.
_FAILING: Responses = {
    503: {"model": HealthReport, "description": "the database failed (status fail)"}
}


@router.get("/live", response_model=HealthReport)
async def live(state: State) -> Response:
    return _respond(health.liveness(state.settings.service_name))


@router.get("/ready", response_model=HealthReport, responses=_FAILING)
async def ready(state: State) -> Response:
    return _respond(await health.readiness(state.settings.service_name, state.engine, state.cache))
