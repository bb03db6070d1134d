"""Item payloads, with the bounds every input is validated against."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from sample_service.schemas.text import StoredText

Name = Annotated[StoredText, Field(min_length=1, max_length=100)]
Description = Annotated[StoredText, Field(max_length=2000)]
Price = Annotated[Decimal, Field(ge=0, le=Decimal("1000000000"), max_digits=12, decimal_places=2)]
Quantity = Annotated[int, Field(ge=0, le=1_000_000)]


class ItemCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

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

    model_config = ConfigDict(
        extra="forbid", str_strip_whitespace=True, json_schema_extra=_no_null_defaults
    )

    name: Name = None  # type: ignore[assignment]
    description: Description = None  # type: ignore[assignment]
    price: Price = None  # type: ignore[assignment]
    quantity: Quantity = None  # type: ignore[assignment]


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
