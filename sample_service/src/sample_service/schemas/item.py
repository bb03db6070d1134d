"""Item payloads, with the bounds every input is validated against."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field


class ItemCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=100)
    description: str = Field("", max_length=2000)
    price: Decimal = Field(ge=0, le=Decimal("1000000000"), max_digits=12, decimal_places=2)
    quantity: int = Field(0, ge=0, le=1_000_000)


class ItemUpdate(BaseModel):
    """A partial update: only the fields sent change."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str | None = Field(None, min_length=1, max_length=100)
    description: str | None = Field(None, max_length=2000)
    price: Decimal | None = Field(
        None, ge=0, le=Decimal("1000000000"), max_digits=12, decimal_places=2
    )
    quantity: int | None = Field(None, ge=0, le=1_000_000)


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
