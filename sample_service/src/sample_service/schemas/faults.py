"""The fault-injection contract: PUT /admin/faults body."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class FaultConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # strict: a JSON true is not a number (lax mode would read it as 1.0).
    error_rate: float = Field(0.0, ge=0.0, le=1.0, strict=True)
    latency_seconds: float = Field(0.0, ge=0.0, le=60.0, strict=True)
    # A route template such as "/api/v1/items"; null applies the fault to every API route.
    route: str | None = Field(None, min_length=1, max_length=200, pattern=r"^/")
