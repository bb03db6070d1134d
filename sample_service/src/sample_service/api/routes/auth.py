"""POST /api/v1/auth/token: e-mail and password in, a bearer token out."""

from __future__ import annotations

from sample_service.api.deps import SessionDep, State, v1_router
from sample_service.schemas.user import LoginRequest, Token
from sample_service.services import users

router = v1_router("auth", "auth")


@router.post("/token", responses={401: {"description": "incorrect email or password"}})
async def issue_token(data: LoginRequest, session: SessionDep, state: State) -> Token:
    return await users.login(session, data, state.jwt_secret, state.settings.jwt_expire_minutes)
