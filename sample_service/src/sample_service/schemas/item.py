"""Item payloads, with the bounds every input is validated against.

Text is stored as sent: whitespace is not stripped, because the OpenAPI schema could not
say so (a name of 101 characters with a trailing space would break its maxLength).
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from sample_service.schemas.text import JSON_INTEGER, StoredText

Name = Annotated[StoredText, Field(min_length=1, max_length=100)]
Description = Annotated[StoredText, Field(max_length=2000)]

# A price is a JSON number or a decimal string, at most 1e9 with at most 2 decimals. A
# string must be written plainly (no sign, exponent, spaces or leading zeros), as the
# schema's pattern says: Decimal would read "+1e2" or " 1 " too, which no client should rely
# on and the schema cannot describe.
_PRICE_PATTERN = r"^(0|[1-9][0-9]{0,8})(\.[0-9]{1,2})?$|^1000000000(\.0{1,2})?$"
_PRICE_TEXT = re.compile(_PRICE_PATTERN)


def _plain_price(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("a price is a number or a decimal string, not a boolean")
    if isinstance(value, str) and not _PRICE_TEXT.match(value):
        raise ValueError("a price string is digits with at most 2 decimals, e.g. 19.90")
    return value


Price = Annotated[
    Decimal,
    BeforeValidator(_plain_price),
    Field(ge=0, le=Decimal("1000000000"), max_digits=12, decimal_places=2),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0, "maximum": 1_000_000_000, "multipleOf": 0.01},
                {"type": "string", "pattern": _PRICE_PATTERN},
            ]
        },
        mode="validation",
    ),
]
Quantity = Annotated[int, Field(ge=0, le=1_000_000), JSON_INTEGER]


class ItemCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    description: Description = ""
    price: Price
    quantity: Quantity = 0


def _no_null_defaults(schema: dict[str, Any]) -> None:
    """The schema of a field that may be left out but not sent as null has no default."""
    for prop in schema.get("properties", {}).values():
        if "default" in prop and prop["default"] is None:
            del prop["default"]


class ItemUpdate(BaseModel):
    """A partial update: only the fields sent change.

    A field may be left out, never sent as null: every column is NOT NULL, so a null used
    to reach the database and fail there (a 500). The None defaults only mark "not sent":
    pydantic does not validate defaults, an explicit null is validated against the field's
    type and refused (422 naming the field), and the service applies
    model_dump(exclude_unset=True), which never holds a default.
    """

    model_config = ConfigDict(extra="forbid", json_schema_extra=_no_null_defaults)

    name: Name = None  # type: ignore[assignment]  # None is "not sent": its default is never validated, a null sent is refused
    description: Description = None  # type: ignore[assignment]  # None is "not sent": its default is never validated, a null sent is refused
    price: Price = None  # type: ignore[assignment]  # None is "not sent": its default is never validated, a null sent is refused
    quantity: Quantity = None  # type: ignore[assignment]  # None is "not sent": its default is never validated, a null sent is refused


class ItemRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    description: str
    price: Decimal
    quantity: int
    owner_id: int
    created_at: datetime
    updated_at: datetime


class ItemPage(BaseModel):
    items: list[ItemRead]
    total: int
    limit: int
    offset: int
