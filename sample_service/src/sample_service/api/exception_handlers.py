"""Maps domain errors, HTTP errors, validation errors, busy hashing and injected faults to
JSON answers of the documented shapes (schemas/errors.py), each carrying the request id.

Unhandled exceptions are the job of core.request_middleware (see there why).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from sample_service.core.faults import InjectedFaultError
from sample_service.core.passwords import HashingBusyError
from sample_service.core.request_context import request_id_var
from sample_service.services.errors import DomainError

# A 422 lists at most this many errors, each field name and message cut to a bound: a
# body of 10,000 unknown keys, or one key of 20 MB, must not come back amplified.
MAX_ERRORS = 20
MAX_FIELD_CHARS = 100
MAX_MESSAGE_CHARS = 200


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _error(status_code: int, detail: str, headers: Mapping[str, str] | None = None) -> Response:
    if status_code in (204, 304) or status_code < 200:
        return Response(status_code=status_code, headers=headers)
    return JSONResponse(
        {"detail": detail, "request_id": request_id_var.get()},
        status_code=status_code,
        headers=headers,
    )


async def _domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    return _error(exc.status_code, exc.detail)


def _routes(routes: list[Any]) -> Iterator[Any]:
    """Every route, included routers' routes too (FastAPI keeps those in nested routers)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _routes(included.routes)
        else:
            yield route


def _allowed_methods(request: Request) -> str:
    """All the methods of the path. Starlette's 405 lists those of the one route it tried,
    though GET and POST of a path are two routes."""
    methods: set[str] = set()
    for route in _routes(request.app.routes):
        regex, route_methods = getattr(route, "path_regex", None), getattr(route, "methods", None)
        if regex is not None and route_methods and regex.match(request.url.path):
            methods |= route_methods
    return ", ".join(sorted(methods))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    headers = exc.headers
    if exc.status_code == 405:
        headers = {**(headers or {}), "Allow": _allowed_methods(request)}
    return _error(exc.status_code, str(exc.detail), headers)


async def _validation_error(request: Request, exc: Exception) -> Response:
    """422 naming each offending field; the submitted value is not echoed (it may be a password)."""
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    listed = [
        {
            "field": _truncate(
                ".".join(str(part) for part in error["loc"][1:]) or str(error["loc"][0]),
                MAX_FIELD_CHARS,
            ),
            "location": str(error["loc"][0]),
            "message": _truncate(str(error["msg"]), MAX_MESSAGE_CHARS),
            "type": _truncate(str(error["type"]), MAX_FIELD_CHARS),
        }
        for error in errors[:MAX_ERRORS]
    ]
    return JSONResponse(
        {
            "detail": listed,
            "errors_omitted": max(0, len(errors) - MAX_ERRORS),
            "request_id": request_id_var.get(),
        },
        status_code=422,
    )


async def _hashing_busy(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HashingBusyError)
    return _error(
        503,
        "password hashing is at capacity, try again",
        {"Retry-After": str(exc.retry_after_seconds)},
    )


async def _injected_fault(request: Request, exc: Exception) -> Response:
    return _error(500, "injected fault")


def register(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HashingBusyError, _hashing_busy)
    app.add_exception_handler(InjectedFaultError, _injected_fault)
