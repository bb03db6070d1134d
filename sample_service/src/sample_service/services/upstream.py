"""The call to another HTTP service (UPSTREAM_URL), so traces show a client span."""

from __future__ import annotations

import time

import httpx

from sample_service.schemas.upstream import UpstreamStatus
from sample_service.services.errors import UpstreamUnavailableError


async def check_upstream(client: httpx.AsyncClient, url: str) -> UpstreamStatus:
    start = time.perf_counter()
    try:
        response = await client.get(url)
    except httpx.HTTPError as exc:
        raise UpstreamUnavailableError(f"upstream unreachable: {type(exc).__name__}") from exc
    return UpstreamStatus(
        url=url, status_code=response.status_code, duration_seconds=time.perf_counter() - start
    )
