"""Domain errors; the API layer maps each to one HTTP status."""

from __future__ import annotations


class DomainError(Exception):
    status_code = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFoundError(DomainError):
    status_code = 404


class PermissionDeniedError(DomainError):
    status_code = 403


class ConflictError(DomainError):
    status_code = 409


class InvalidCredentialsError(DomainError):
    status_code = 401


class UpstreamUnavailableError(DomainError):
    status_code = 502
