"""GET /api/v1/upstream: calls the service at UPSTREAM_URL with async httpx."""

from __future__ import annotations

from sample_service.api.deps import State, v1_router
from sample_service.api.responses import error
from sample_service.schemas.upstream import UpstreamStatus
from sample_service.services.upstream import check_upstream

router = v1_router("upstream", "upstream")


@router.get("", responses={502: error("upstream unreachable")})
async def upstream(state: State) -> UpstreamStatus:
    if state.http_client is None:
        raise RuntimeError("the HTTP client is made at lifespan startup, which has not run")
    return await check_upstream(state.http_client, str(state.settings.upstream_url))
