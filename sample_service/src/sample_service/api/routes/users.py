"""POST /api/v1/users (register) and GET /api/v1/users/me (authenticated)."""

from __future__ import annotations

from fastapi import status

from sample_service.api.deps import (
    AUTH_LIMIT,
    CurrentUser,
    SessionDep,
    State,
    account_rate_limit,
    v1_router,
)
from sample_service.api.responses import (
    AUTH_ERRORS,
    BODY_ERRORS,
    HASHING_ERRORS,
    UNAUTHORIZED,
    error,
)
from sample_service.schemas.user import UserCreate, UserRead
from sample_service.services import users

router = v1_router("users", "users")


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    dependencies=AUTH_LIMIT,
    responses={
        **AUTH_ERRORS,
        **BODY_ERRORS,
        **HASHING_ERRORS,
        409: error("email already registered"),
    },
)
async def register(data: UserCreate, session: SessionDep, state: State) -> UserRead:
    await account_rate_limit(state, data.email)
    return UserRead.model_validate(await users.register(session, state.passwords, data))


@router.get("/me", responses=UNAUTHORIZED)
async def me(user: CurrentUser) -> UserRead:
    return UserRead.model_validate(user)
