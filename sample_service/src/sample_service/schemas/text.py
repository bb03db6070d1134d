"""Input types whose validation the OpenAPI schema states exactly, so that what the
schema calls valid is accepted and what it calls invalid is refused.

Text every backend stores and every hasher takes: no lone surrogates (JSON's "\\ud800"
decodes to one, and UTF-8 cannot encode it: SQLite, asyncpg and Argon2 fail with a 500)
and, for stored text, no NUL character (PostgreSQL text cannot hold one; a `pattern`, so
the schema states it too). E-mail addresses checked for syntax as format "email" means.
JSON integers without the lax readings of true and "5"."""

from __future__ import annotations

from typing import Annotated

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email
from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints, WithJsonSchema


def _encodable(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (no lone surrogate characters)") from None
    return value


UnicodeText = Annotated[str, AfterValidator(_encodable)]
# Text that is stored in a column. The pattern comes before the validator function, or it
# would be left out of the JSON schema.
StoredText = Annotated[str, Field(pattern=r"^[^\x00]*$"), AfterValidator(_encodable)]
# Taken as typed, never stripped: stripping it at registration (and not at login) made a
# password with leading or trailing spaces impossible to log in with.
Password = Annotated[str, StringConstraints(strip_whitespace=False), AfterValidator(_encodable)]


def _email(value: str) -> str:
    _encodable(value)
    try:
        # Syntax, no DNS lookup; email-validator refuses special-use domains (RFC 6761).
        checked = validate_email(value, check_deliverability=False)
    except EmailNotValidError as error:
        raise ValueError(f"value is not a valid email address: {error}") from None
    return checked.normalized


def _no_special_use_domain() -> str:
    """A JSON-schema pattern (no flags, so each letter in both cases) refusing an address in
    a special-use domain (.test, .localhost, ...), which email-validator refuses."""
    names = "|".join(
        "".join(f"[{c.lower()}{c.upper()}]" for c in name) for name in SPECIAL_USE_DOMAIN_NAMES
    )
    return rf"^(?!.*@(?:[^@]*\.)?(?:{names})$)"


Email = Annotated[
    str,
    Field(max_length=320),
    AfterValidator(_email),
    WithJsonSchema(
        {
            "type": "string",
            "format": "email",
            "maxLength": 320,
            "pattern": _no_special_use_domain(),
        }
    ),
]


def _json_integer(value: object) -> object:
    if isinstance(value, bool | str):
        raise ValueError("must be a JSON integer")
    return value


# A JSON integer: a float with no fraction (JSON Schema's integer) is one; true and "5" are
# not, though lax validation would read them as 1 and 5. Placed after the field's bounds:
# `Annotated[int, Field(ge=0), JSON_INTEGER]`, or the bounds leave the JSON schema.
JSON_INTEGER = BeforeValidator(_json_integer)
