"""POST /api/v1/users (register) and GET /api/v1/users/me (authenticated)."""

from __future__ import annotations

from fastapi import status

from sample_service.api.deps import CurrentUser, SessionDep, v1_router
from sample_service.schemas.user import UserCreate, UserRead
from sample_service.services import users

router = v1_router("users", "users")


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={409: {"description": "email already registered"}},
)
async def register(data: UserCreate, session: SessionDep) -> UserRead:
    return UserRead.model_validate(await users.register(session, data))


@router.get("/me", responses={401: {"description": "not authenticated"}})
async def me(user: CurrentUser) -> UserRead:
    return UserRead.model_validate(user)
