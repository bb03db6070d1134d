"""Dependencies: DB session, current user, rate limits, fault injection, shared clients;
and the route class of every /api/v1 route (rate limit, fault injection)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from limits import RateLimitItem
from sqlalchemy.ext.asyncio import AsyncSession

from sample_service.api.responses import API_ERRORS
from sample_service.api.state import AppState
from sample_service.core.faults import FaultInjector
from sample_service.core.rate_limit import client_key
from sample_service.core.security import decode_access_token
from sample_service.crud import users as users_crud
from sample_service.models import User


async def get_state(request: Request) -> AppState:
    # async: FastAPI would run a plain `def` dependency in the thread pool.
    state: AppState = request.app.state.service
    return state


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
    user_id = decode_access_token(credentials.credentials, state.jwt_secret)
    if user_id is None:
        raise _UNAUTHORIZED
    user = await users_crud.get_by_id(session, user_id)
    if user is None:
        raise _UNAUTHORIZED
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


async def _enforce(state: AppState, limit: RateLimitItem, *key: str) -> None:
    retry_after = await state.rate_limiter.hit(limit, *key)
    if retry_after is not None:
        raise HTTPException(
            status_code=status.HTTP_429_TOO_MANY_REQUESTS,
            detail="rate limit exceeded",
            headers={"Retry-After": str(retry_after)},
        )


async def auth_rate_limit(request: Request, state: State) -> None:
    """The tighter per-client limit of login, registration and the admin endpoints."""
    host = request.client.host if request.client else None
    await _enforce(state, state.limits.auth, client_key(host))


async def account_rate_limit(state: AppState, email: str) -> None:
    """The per-account limit of login and registration, whatever the client address."""
    # A digest: the limiter's keys (in Redis, too) should not hold e-mail addresses.
    account = hashlib.sha256(email.lower().encode()).hexdigest()[:32]
    await _enforce(state, state.limits.account, account)


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


# The tighter per-client limit of a route: `dependencies=AUTH_LIMIT, responses=AUTH_ERRORS`.
AUTH_LIMIT = [Depends(auth_rate_limit)]


class GuardedRoute(APIRoute):
    """An /api/v1 route: the client's rate limit (429 with Retry-After), then the configured
    fault (nothing unless fault injection is enabled), then the endpoint.

    A route class rather than router dependencies: FastAPI resolves each dependency at
    ~20 us a request, which was most of what the guard cost (bench/service_overhead).
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            state: AppState = request.app.state.service
            host = request.client.host if request.client else None
            await _enforce(state, state.limits.api, client_key(host))
            if state.faults is not None:
                await state.faults.apply(self.path)
            return await handler(request)

        return guarded


def v1_router(resource: str, tag: str) -> APIRouter:
    """The router of /api/v1/<resource>: rate limited and open to fault injection.

    The prefix belongs to the router itself, not to include_router: FastAPI keeps an
    included route's own path in the scope, and metrics, logs and fault injection read
    the full route template from there.
    """
    return APIRouter(
        prefix=f"{API_V1_PREFIX}/{resource}",
        tags=[tag],
        route_class=GuardedRoute,
        responses=API_ERRORS,
    )
