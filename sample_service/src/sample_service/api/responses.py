"""The error answers each route documents in the OpenAPI schema: what the exception
handlers, the rate limiter, the body-size limit and the error middleware really send."""

from __future__ import annotations

from typing import Any

from sample_service.schemas.errors import ErrorResponse, ValidationErrorResponse

Responses = dict[int | str, dict[str, Any]]


def error(description: str, *, retry_after: bool = False) -> dict[str, Any]:
    response: dict[str, Any] = {"model": ErrorResponse, "description": description}
    if retry_after:
        response["headers"] = {
            "Retry-After": {
                "description": "seconds to wait before trying again",
                "schema": {"type": "integer", "minimum": 1},
            }
        }
    return response


VALIDATION_ERROR: Responses = {
    422: {"model": ValidationErrorResponse, "description": "invalid input: the fields named"}
}
# Every /api/v1 route: the rate limit, and an internal or injected error.
API_ERRORS: Responses = {
    **VALIDATION_ERROR,
    429: error("rate limit exceeded", retry_after=True),
    500: error("internal error, or a fault injected on purpose (/admin/faults)"),
}
# Routes that read a body. Starlette's body limit answers in plain text.
BODY_ERRORS: Responses = {
    400: error("the body could not be read as text (not UTF-8)"),
    413: {
        "description": "request body over MAX_BODY_BYTES",
        "content": {"text/plain": {"schema": {"type": "string", "const": "Content Too Large"}}},
    },
}
# Login, registration and the admin endpoints: the tighter per-client limit.
AUTH_ERRORS: Responses = {429: error("rate limit exceeded", retry_after=True)}
# Routes that hash a password.
HASHING_ERRORS: Responses = {
    503: error("every password-hashing slot stayed busy; try again", retry_after=True)
}
UNAUTHORIZED: Responses = {401: error("missing, invalid or expired bearer token")}
