"""The answer of the endpoint that calls another HTTP service."""

from __future__ import annotations

from pydantic import BaseModel


class UpstreamStatus(BaseModel):
    url: str
    status_code: int
    duration_seconds: float
