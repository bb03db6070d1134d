"""POST /api/v1/auth/token: e-mail and password in, a bearer token out."""

from __future__ import annotations

from sample_service.api.deps import AUTH_LIMIT, SessionDep, State, account_rate_limit, v1_router
from sample_service.api.responses import AUTH_ERRORS, BODY_ERRORS, HASHING_ERRORS, error
from sample_service.schemas.user import LoginRequest, Token
from sample_service.services import users

router = v1_router("auth", "auth")


@router.post(
    "/token",
    dependencies=AUTH_LIMIT,
    responses={
        **AUTH_ERRORS,
        **BODY_ERRORS,
        **HASHING_ERRORS,
        401: error("incorrect email or password"),
    },
)
async def issue_token(data: LoginRequest, session: SessionDep, state: State) -> Token:
    await account_rate_limit(state, data.email)
    return await users.login(
        session, state.passwords, data, state.jwt_secret, state.settings.jwt_expire_minutes
    )
