"""application/health+json bodies (draft-inadarei-api-health-check)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

HealthStatus = Literal["pass", "warn", "fail"]


class CheckResult(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    component_type: str = Field(serialization_alias="componentType")
    observed_value: float = Field(serialization_alias="observedValue")
    observed_unit: str = Field(serialization_alias="observedUnit")
    status: HealthStatus
    time: str
    output: str | None = None


class HealthReport(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    status: HealthStatus
    version: str
    service_id: str = Field(serialization_alias="serviceId")
    description: str
    checks: dict[str, list[CheckResult]]
