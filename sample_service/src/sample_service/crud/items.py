"""Item rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from sample_service.models import Item


async def get(session: AsyncSession, item_id: int) -> Item | None:
    return await session.get(Item, item_id)


async def list_page(
    session: AsyncSession, *, limit: int, offset: int
) -> tuple[Sequence[Item], int]:
    """One page and the total number of items, in one round trip (a window count)."""
    total = func.count().over().label("total")
    result = await session.execute(
        select(Item, total).order_by(Item.id).limit(limit).offset(offset)
    )
    rows = result.all()
    if rows:
        return [row[0] for row in rows], int(rows[0][1])
    # Past the last page the window has no row to ride on: count on its own.
    return [], await count(session)


async def count(session: AsyncSession) -> int:
    result = await session.execute(select(func.count()).select_from(Item))
    return int(result.scalar_one())


async def create(session: AsyncSession, *, owner_id: int, values: Mapping[str, Any]) -> Item:
    item = Item(owner_id=owner_id, **values)
    session.add(item)
    await session.flush()
    await session.refresh(item)
    return item


async def update(session: AsyncSession, item: Item, changes: Mapping[str, Any]) -> Item:
    for field, value in changes.items():
        setattr(item, field, value)
    await session.flush()
    await session.refresh(item)
    return item


async def delete(session: AsyncSession, item: Item) -> None:
    await session.delete(item)
    await session.flush()
