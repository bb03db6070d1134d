"""Text that every backend stores and every hasher takes: no lone surrogates (JSON's
"\\ud800" decodes to one, and UTF-8 cannot encode it: SQLite, asyncpg and Argon2 fail
with a 500) and, for stored text, no NUL character (PostgreSQL text cannot hold one).
The NUL rule is a `pattern`, so the OpenAPI schema states it too."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints


def _encodable(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (no lone surrogate characters)") from None
    return value


UnicodeText = Annotated[str, AfterValidator(_encodable)]
# Text that is stored in a column.
StoredText = Annotated[UnicodeText, Field(pattern=r"^[^\x00]*$")]
# Taken as typed, never stripped: stripping it at registration (and not at login) made a
# password with leading or trailing spaces impossible to log in with.
Password = Annotated[str, StringConstraints(strip_whitespace=False), AfterValidator(_encodable)]
