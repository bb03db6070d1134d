"""The JWT bearer tokens of the API (PyJWT, HS256)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import jwt

from sample_service.models.base import MAX_ID

JWT_ALGORITHM = "HS256"
# A subject is a user id in ASCII digits: str.isdigit() also accepts "\u00b2" (superscript
# two, which int() rejects: a 500) and "\u0661" (Arabic-Indic one, which int() reads as 1).
_SUBJECT = re.compile(r"[1-9][0-9]{0,9}")


def create_access_token(user_id: int, secret: str, expire_minutes: int) -> str:
    now = datetime.now(UTC)
    claims = {"sub": str(user_id), "iat": now, "exp": now + timedelta(minutes=expire_minutes)}
    return jwt.encode(claims, secret, algorithm=JWT_ALGORITHM)


def decode_access_token(token: str, secret: str) -> int | None:
    """The user id the token was issued for, or None when it is malformed, forged, expired,
    or its subject is not a user id."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=[JWT_ALGORITHM], options={"require": ["sub", "exp"]}
        )
    except jwt.PyJWTError:
        return None
    subject = claims.get("sub")
    if not isinstance(subject, str) or not _SUBJECT.fullmatch(subject):
        return None
    user_id = int(subject)
    return user_id if user_id <= MAX_ID else None
