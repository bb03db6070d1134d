"""Dependencies: DB session, current user, rate limiter, fault injection, shared clients."""

from __future__ import annotations

import math
import secrets
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from sample_service.api.state import AppState
from sample_service.core.faults import FaultInjector
from sample_service.core.security import decode_access_token
from sample_service.crud import users as users_crud
from sample_service.models import User


async def get_state(request: Request) -> AppState:
    # async: FastAPI would run a plain `def` dependency in the thread pool.
    return request.app.state.service


State = Annotated[AppState, Depends(get_state)]


async def get_session(state: State) -> AsyncIterator[AsyncSession]:
    async with state.session_factory() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]

_bearer = HTTPBearer(auto_error=False)
_UNAUTHORIZED = HTTPException(
    status_code=status.HTTP_401_UNAUTHORIZED,
    detail="not authenticated",
    headers={"WWW-Authenticate": "Bearer"},
)


async def get_current_user(
    state: State,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    if credentials is None:
        raise _UNAUTHORIZED
    subject = decode_access_token(credentials.credentials, state.jwt_secret)
    if subject is None or not subject.isdigit():
        raise _UNAUTHORIZED
    user = await users_crud.get_by_id(session, int(subject))
    if user is None:
        raise _UNAUTHORIZED
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


async def rate_limit(request: Request, state: State) -> None:
    """429 with Retry-After once the client has used up its requests for the minute."""
    client = request.client.host if request.client else "unknown"
    retry_after = state.rate_limiter.hit(client)
    if retry_after is not None:
        raise HTTPException(
            status_code=status.HTTP_429_TOO_MANY_REQUESTS,
            detail="rate limit exceeded",
            headers={"Retry-After": str(max(1, math.ceil(retry_after)))},
        )


async def inject_faults(request: Request, state: State) -> None:
    """Apply the configured fault to this route; nothing unless fault injection is enabled."""
    if state.faults is not None:
        await state.faults.apply(request.scope["route"].path)


async def require_fault_admin(
    state: State,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> FaultInjector:
    """The fault injector, for a caller holding FAULT_ADMIN_TOKEN; 404 when injection is off."""
    expected = state.settings.fault_admin_token
    if state.faults is None or expected is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="fault injection is disabled")
    if credentials is None or not secrets.compare_digest(
        credentials.credentials.encode(), expected.get_secret_value().encode()
    ):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="a valid fault admin token is required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return state.faults


FaultAdmin = Annotated[FaultInjector, Depends(require_fault_admin)]


API_V1_PREFIX = "/api/v1"


def v1_router(resource: str, tag: str) -> APIRouter:
    """The router of /api/v1/<resource>: rate limited and open to fault injection.

    The prefix belongs to the router itself, not to include_router: FastAPI keeps an
    included route's own path in the scope, and metrics, logs and fault injection read
    the full route template from there.
    """
    return APIRouter(
        prefix=f"{API_V1_PREFIX}/{resource}",
        tags=[tag],
        dependencies=[Depends(rate_limit), Depends(inject_faults)],
    )
