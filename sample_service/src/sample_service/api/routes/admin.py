"""PUT/GET/DELETE /admin/faults: only with FAULT_INJECTION_ENABLED and FAULT_ADMIN_TOKEN."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, status

from sample_service.api.deps import FaultAdmin
from sample_service.core.faults import FaultState
from sample_service.schemas.faults import FaultConfig

router = APIRouter(
    prefix="/admin/faults",
    tags=["admin"],
    responses={401: {"description": "missing or wrong token"}, 404: {"description": "disabled"}},
)


@router.put("")
async def set_faults(config: FaultConfig, faults: FaultAdmin) -> FaultConfig:
    await faults.set(FaultState(**config.model_dump()))
    return config


@router.get("")
async def get_faults(faults: FaultAdmin) -> FaultConfig | None:
    current = await faults.current()
    return FaultConfig(**asdict(current)) if current else None


@router.delete("", status_code=status.HTTP_204_NO_CONTENT)
async def clear_faults(faults: FaultAdmin) -> None:
    await faults.clear()
