"""Password hashing (pwdlib with Argon2id) and the JWT bearer tokens of the API.

passlib is unmaintained and breaks with current bcrypt, so hashing uses pwdlib's
Argon2 hasher (argon2-cffi). Hashing is deliberately slow CPU work: it runs in a
worker thread so it never blocks the event loop.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
from anyio import to_thread
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

JWT_ALGORITHM = "HS256"

_password_hash = PasswordHash((Argon2Hasher(),))


async def hash_password(password: str) -> str:
    return await to_thread.run_sync(_password_hash.hash, password)


async def verify_password(password: str, password_hash: str) -> bool:
    return await to_thread.run_sync(_password_hash.verify, password, password_hash)


def create_access_token(subject: str, secret: str, expire_minutes: int) -> str:
    now = datetime.now(UTC)
    claims = {"sub": subject, "iat": now, "exp": now + timedelta(minutes=expire_minutes)}
    return jwt.encode(claims, secret, algorithm=JWT_ALGORITHM)


def decode_access_token(token: str, secret: str) -> str | None:
    """The token's subject, or None when it is malformed, forged or expired."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=[JWT_ALGORITHM], options={"require": ["sub", "exp"]}
        )
    except jwt.PyJWTError:
        return None
    subject = claims.get("sub")
    return subject if isinstance(subject, str) else None
