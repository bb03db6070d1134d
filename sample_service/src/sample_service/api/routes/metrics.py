"""GET /metrics: Prometheus text, or OpenMetrics (with exemplars) when the scraper asks."""

from __future__ import annotations

from anyio import to_thread
from fastapi import APIRouter, Header, HTTPException, Response

from sample_service.api.deps import State
from sample_service.api.responses import Responses, error

router = APIRouter(tags=["metrics"])

_EXPOSITION: Responses = {
    200: {
        "description": "Prometheus text format, or OpenMetrics when Accept asks for it",
        "content": {
            "text/plain": {"schema": {"type": "string"}},
            "application/openmetrics-text": {"schema": {"type": "string"}},
        },
    },
    404: error("metrics are disabled (METRICS_ENABLED=false)"),
}


@router.get("/metrics", response_class=Response, responses=_EXPOSITION)
async def metrics(state: State, accept: str | None = Header(None)) -> Response:
    if state.metrics is None:
        raise HTTPException(404, detail="metrics are disabled")
    # Multiprocess mode reads every worker's files: keep that off the event loop.
    body, content_type = await to_thread.run_sync(state.metrics.render, accept)
    return Response(content=body, media_type=content_type)
