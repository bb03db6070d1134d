"""Registration and login."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from sample_service.core.security import create_access_token, hash_password, verify_password
from sample_service.crud import users as users_crud
from sample_service.models import User
from sample_service.schemas.user import LoginRequest, Token, UserCreate
from sample_service.services.errors import ConflictError, InvalidCredentialsError

# Verifying against a real hash when the user does not exist keeps the answer time
# the same, so response times do not reveal which e-mail addresses are registered.
_DUMMY_HASH: str | None = None


async def register(session: AsyncSession, data: UserCreate) -> User:
    email = data.email.lower()
    if await users_crud.get_by_email(session, email) is not None:
        raise ConflictError("email already registered")
    password_hash = await hash_password(data.password)
    try:
        user = await users_crud.create(
            session, email=email, full_name=data.full_name, password_hash=password_hash
        )
        await session.commit()
    except IntegrityError as exc:  # a concurrent registration won the race
        await session.rollback()
        raise ConflictError("email already registered") from exc
    return user


async def login(
    session: AsyncSession, data: LoginRequest, secret: str, expire_minutes: int
) -> Token:
    global _DUMMY_HASH
    user = await users_crud.get_by_email(session, data.email.lower())
    if user is None:
        if _DUMMY_HASH is None:
            _DUMMY_HASH = await hash_password("not-a-real-password")
        await verify_password(data.password, _DUMMY_HASH)
        raise InvalidCredentialsError("incorrect email or password")
    if not await verify_password(data.password, user.password_hash):
        raise InvalidCredentialsError("incorrect email or password")
    token = create_access_token(str(user.id), secret, expire_minutes)
    return Token(access_token=token, expires_in=expire_minutes * 60)
