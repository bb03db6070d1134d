"""Maps domain errors, validation errors and injected faults to JSON answers.

Unhandled exceptions are the job of core.request_middleware (see there why).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from sample_service.core.faults import InjectedFaultError
from sample_service.core.request_context import request_id_var
from sample_service.services.errors import DomainError


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    return JSONResponse(
        {"detail": exc.detail, "request_id": request_id_var.get()}, status_code=exc.status_code
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    """422 naming each offending field; the submitted value is not echoed (it may be a password)."""
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "field": ".".join(str(part) for part in error["loc"][1:]) or str(error["loc"][0]),
            "location": error["loc"][0],
            "message": error["msg"],
            "type": error["type"],
        }
        for error in exc.errors()
    ]
    return JSONResponse({"detail": errors, "request_id": request_id_var.get()}, status_code=422)


async def _injected_fault(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(
        {"detail": "injected fault", "request_id": request_id_var.get()}, status_code=500
    )


def register(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(InjectedFaultError, _injected_fault)
