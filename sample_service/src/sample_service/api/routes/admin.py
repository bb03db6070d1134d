"""PUT/GET/DELETE /admin/faults: only with FAULT_INJECTION_ENABLED and FAULT_ADMIN_TOKEN.

Rate limited like login (per client address), so the token cannot be guessed at speed.
"""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, status

from sample_service.api.deps import AUTH_LIMIT, FaultAdmin
from sample_service.api.responses import AUTH_ERRORS, BODY_ERRORS, VALIDATION_ERROR, error
from sample_service.core.faults import FaultState
from sample_service.schemas.faults import FaultConfig

router = APIRouter(
    prefix="/admin/faults",
    tags=["admin"],
    dependencies=AUTH_LIMIT,
    responses={
        **AUTH_ERRORS,
        401: error("missing or wrong token"),
        404: error("fault injection is disabled"),
    },
)


@router.put("", responses={**VALIDATION_ERROR, **BODY_ERRORS})
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
