"""Registration and login."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from sample_service.core.passwords import PasswordHasher
from sample_service.core.security import create_access_token
from sample_service.crud import users as users_crud
from sample_service.models import User
from sample_service.schemas.user import LoginRequest, Token, UserCreate
from sample_service.services.errors import ConflictError, InvalidCredentialsError


async def register(session: AsyncSession, passwords: PasswordHasher, data: UserCreate) -> User:
    email = data.email.lower()
    if await users_crud.get_by_email(session, email) is not None:
        raise ConflictError("email already registered")
    password_hash = await passwords.hash(data.password)
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
    session: AsyncSession,
    passwords: PasswordHasher,
    data: LoginRequest,
    secret: str,
    expire_minutes: int,
) -> Token:
    user = await users_crud.get_by_email(session, data.email.lower())
    if user is None:
        # Unknown and known e-mail addresses cost the same time (see PasswordHasher).
        await passwords.verify_unknown_user(data.password)
        raise InvalidCredentialsError("incorrect email or password")
    valid, new_hash = await passwords.verify_and_update(data.password, user.password_hash)
    if not valid:
        raise InvalidCredentialsError("incorrect email or password")
    if new_hash is not None:
        # Made with other Argon2 parameters (older, weaker or costlier): replace it now
        # that the password is known.
        user.password_hash = new_hash
        await session.commit()
    token = create_access_token(user.id, secret, expire_minutes)
    return Token(access_token=token, expires_in=expire_minutes * 60)
