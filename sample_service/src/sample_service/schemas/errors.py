"""The bodies of error answers, as documented in the OpenAPI schema."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ErrorResponse(BaseModel):
    """Every error but a validation error: what went wrong, and the request's id."""

    detail: str
    request_id: str | None = Field(description="the X-Request-ID of the request")


class FieldError(BaseModel):
    field: str = Field(description="the offending field, dotted (truncated when long)")
    location: str = Field(description="body, query, path or header")
    message: str
    type: str


class ValidationErrorResponse(BaseModel):
    """422: the offending fields (at most 20), never the submitted values."""

    detail: list[FieldError] = Field(max_length=20)
    errors_omitted: int = Field(0, description="errors beyond the 20 listed")
    request_id: str | None
